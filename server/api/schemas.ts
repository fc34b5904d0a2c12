// Request and response schemas: they validate bodies, type the handlers and
// make the OpenAPI document.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_VARS_DEPTH } from '../config/depth.js';
import { StringEnum } from '../config/types.js';
import { MAC_FORMS } from '../net/mac.js';
import { BMC_TYPES, LEASE_STATES, LOADERS } from '../store/types.js';
import { BmcSchema } from '../store/bmc.js';

export const ErrorBody = Type.Object(
  { error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  { $id: 'Error', description: 'Every error: a code and a message naming the problem' },
);

export const MAC_DESCRIPTION = `a MAC address: ${MAC_FORMS}`;

const NameStr = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'letters, digits, _ . - (max 63)' });
const Loader = StringEnum(LOADERS, { description: 'boot loader' });
const Vars = Type.Record(Type.String(), Type.Unknown(), { description: `template variables (at most ${MAX_VARS_DEPTH} levels of objects and arrays)`, maxDepth: MAX_VARS_DEPTH });
/** Free-form details (events, discovery facts): bounded like vars, so a stored value reads back with any JSON client. */
export const Details = Type.Record(Type.String(), Type.Unknown(), { maxDepth: MAX_VARS_DEPTH });
const BmcIn = Type.Optional(Type.Union([BmcSchema, Type.Null()], { description: "the BMC (null removes it); a password is write-only, and a bmc given without one keeps the stored one" }));

/** A BMC as answered: never the password, only whether one is set. */
export const BmcOut = Type.Object({
  type: Type.Optional(StringEnum(BMC_TYPES)),
  address: Type.Optional(Type.String()),
  port: Type.Optional(Type.Integer()),
  username: Type.Optional(Type.String()),
  passwordFile: Type.Optional(Type.String()),
  passwordSet: Type.Boolean({ description: 'a password (or passwordFile) is set; the password itself is never returned' }),
  ipmi: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  redfish: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const BmcOutOrNull = Type.Union([BmcOut, Type.Null()]);

export const InterfaceIn = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 15, pattern: '^[A-Za-z0-9_.:-]+$' }),
    mac: Type.String({ description: MAC_DESCRIPTION }),
    network: NameStr,
    ipv4: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'omit for the next free address in the static range' })),
  },
  { additionalProperties: false },
);

export const InterfaceOut = Type.Object({ name: Type.String(), mac: Type.String(), network: Type.String(), ipv4: Type.String() });

export const NodeIn = Type.Object(
  {
    name: NameStr,
    group: Type.Optional(Type.Union([NameStr, Type.Null()])),
    image: Type.Optional(Type.Union([NameStr, Type.Null()])),
    loader: Type.Optional(Type.Union([Loader, Type.Null()])),
    vars: Type.Optional(Vars),
    interfaces: Type.Array(InterfaceIn, { minItems: 1, maxItems: 16 }),
    bmc: BmcIn,
  },
  { additionalProperties: false, $id: 'NodeIn' },
);
export type NodeInT = Static<typeof NodeIn>;

export const NodePatchIn = Type.Object(
  {
    group: Type.Optional(Type.Union([NameStr, Type.Null()])),
    image: Type.Optional(Type.Union([NameStr, Type.Null()])),
    loader: Type.Optional(Type.Union([Loader, Type.Null()])),
    vars: Type.Optional(Vars),
    interfaces: Type.Optional(Type.Array(InterfaceIn, { minItems: 1, maxItems: 16 })),
    bmc: BmcIn,
  },
  { additionalProperties: false, $id: 'NodePatch', minProperties: 1 },
);
export type NodePatchT = Static<typeof NodePatchIn>;

export const NodeOut = Type.Object(
  {
    name: Type.String(),
    group: Type.Union([Type.String(), Type.Null()]),
    image: Type.Union([Type.String(), Type.Null()]),
    loader: Type.Union([Type.String(), Type.Null()]),
    vars: Vars,
    discovered: Type.Boolean(),
    interfaces: Type.Array(InterfaceOut),
    bmc: BmcOutOrNull,
    createdAt: Type.String(),
    updatedAt: Type.String(),
    effective: Type.Optional(
      Type.Object({
        loader: Type.String(),
        image: Type.Union([Type.String(), Type.Null()]),
        vars: Vars,
        bmc: Type.Optional(Type.Union([BmcOut, Type.Null()], { description: 'the node over its group: what power actions use' })),
      }),
    ),
  },
  { $id: 'Node' },
);

export const GroupIn = Type.Object(
  { name: NameStr, loader: Type.Optional(Type.Union([Loader, Type.Null()])), image: Type.Optional(Type.Union([NameStr, Type.Null()])), vars: Type.Optional(Vars), bmc: BmcIn },
  { additionalProperties: false, $id: 'GroupIn' },
);
export type GroupInT = Static<typeof GroupIn>;
export const GroupPatchIn = Type.Object(
  { loader: Type.Optional(Type.Union([Loader, Type.Null()])), image: Type.Optional(Type.Union([NameStr, Type.Null()])), vars: Type.Optional(Vars), bmc: BmcIn },
  { additionalProperties: false, minProperties: 1, $id: 'GroupPatch' },
);
export type GroupPatchT = Static<typeof GroupPatchIn>;
export const GroupOut = Type.Object(
  {
    name: Type.String(),
    loader: Type.Union([Type.String(), Type.Null()]),
    image: Type.Union([Type.String(), Type.Null()]),
    vars: Vars,
    bmc: BmcOutOrNull,
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'Group' },
);

export const NetworkOut = Type.Object(
  {
    name: Type.String(),
    interface: Type.Union([Type.String(), Type.Null()]),
    cidr: Type.String(),
    netmask: Type.String(),
    serverAddress: Type.String(),
    router: Type.Union([Type.String(), Type.Null()]),
    dns: Type.Array(Type.String()),
    domain: Type.String(),
    staticRange: Type.Union([Type.String(), Type.Null()]),
    dynamicRange: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'Network' },
);

export const LeaseOut = Type.Object(
  {
    network: Type.String(),
    ipv4: Type.String(),
    mac: Type.String(),
    clientId: Type.Union([Type.String(), Type.Null()]),
    hostname: Type.Union([Type.String(), Type.Null()]),
    state: Type.String(),
    expiresAt: Type.String({ description: 'ISO time' }),
    updatedAt: Type.String({ description: 'ISO time' }),
    node: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'Lease' },
);
export const LeaseQuery = Type.Object(
  { network: Type.Optional(Type.String()), mac: Type.Optional(Type.String({ description: MAC_DESCRIPTION })), state: Type.Optional(StringEnum(LEASE_STATES)) },
  { additionalProperties: false },
);

export const EventIn = Type.Object(
  {
    kind: Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,39}$', description: 'e.g. ready, nfs-mounted, httpd-started' }),
    detail: Type.Optional(Details),
  },
  { additionalProperties: false, $id: 'EventIn' },
);
export type EventInT = Static<typeof EventIn>;
export const EventOut = Type.Object(
  {
    id: Type.Integer(),
    server: Type.Union([Type.String(), Type.Null()], { description: 'the rackboot server (server.name) that recorded it' }),
    node: Type.Union([Type.String(), Type.Null()]),
    mac: Type.Union([Type.String(), Type.Null()]),
    ts: Type.Integer({ description: 'epoch ms' }),
    time: Type.String({ description: 'ISO time' }),
    kind: Type.String(),
    detail: Type.Record(Type.String(), Type.Unknown()),
  },
  { $id: 'Event' },
);
/** Which events: the filters GET /events and its stream share. */
export const EventFilter = {
  node: Type.Optional(Type.String()),
  mac: Type.Optional(Type.String({ description: MAC_DESCRIPTION })),
  kind: Type.Optional(Type.String()),
};

export const EventQuery = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0, description: 'epoch ms' })),
    kind: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  },
  { additionalProperties: false },
);

export const NameParam = Type.Object({ name: NameStr });
