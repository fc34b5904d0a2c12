// Request and response schemas of the power routes (validation, handler
// types and the OpenAPI document).
import { Type, type Static } from '@sinclair/typebox';
import { Duration, StringEnum } from '../config/types.js';
import { BOOT_DEVICES, POWER_ACTIONS } from './types.js';

const NameStr = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'letters, digits, _ . - (max 63)' });
const BootDev = StringEnum(BOOT_DEVICES, { description: 'the device of the next boot, set before the action' });
const Persistent = Type.Boolean({ description: 'keep bootdev for every boot (default: the next boot only)' });

export const PowerIn = Type.Object(
  { action: StringEnum(POWER_ACTIONS, { description: 'on, off (hard), cycle (an off machine is started), reset (hard), soft (ACPI shutdown)' }), bootdev: Type.Optional(BootDev), persistent: Type.Optional(Persistent) },
  { additionalProperties: false, $id: 'PowerIn' },
);
export type PowerInT = Static<typeof PowerIn>;

export const BULK_ACTIONS = [...POWER_ACTIONS, 'status'] as const;

export const BulkPowerIn = Type.Object(
  {
    action: StringEnum(BULK_ACTIONS, { description: 'a power action, or status (a read, no change)' }),
    nodes: Type.Optional(Type.Array(NameStr, { minItems: 1, maxItems: 10000, uniqueItems: true })),
    group: Type.Optional(NameStr),
    bootdev: Type.Optional(BootDev),
    persistent: Type.Optional(Persistent),
    /** Pause between nodes for on, cycle and reset (default power.stagger); "0s": all at once. */
    stagger: Type.Optional(Duration),
  },
  { additionalProperties: false, $id: 'BulkPowerIn', anyOf: [{ required: ['nodes'] }, { required: ['group'] }] },
);
export type BulkPowerInT = Static<typeof BulkPowerIn>;

export const PowerResultOut = Type.Object(
  {
    node: Type.String(),
    action: Type.String(),
    ok: Type.Boolean(),
    state: Type.Union([StringEnum(['on', 'off']), Type.Null()], { description: 'the state read (status), or the one the action leaves; null when not known' }),
    bootdev: Type.Union([Type.String(), Type.Null()]),
    bmc: Type.Union([Type.String(), Type.Null()], { description: 'e.g. "ipmi 10.0.2.11:623"' }),
    via: Type.Union([Type.String(), Type.Null()], { description: 'e.g. "ipmitool lanplus -C 3", "redfish session auth"' }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'names the node, the BMC address and what was tried' }),
    kind: Type.Union([Type.String(), Type.Null()], { description: 'auth, timeout, unreachable, tls, refused, tool, config' }),
    tried: Type.Union([Type.String(), Type.Null()]),
    ms: Type.Integer(),
    at: Type.String({ description: 'ISO time it finished' }),
  },
  { $id: 'PowerResult' },
);

export const BulkPowerOut = Type.Object({
  action: Type.String(),
  staggerMs: Type.Integer(),
  ok: Type.Integer(),
  failed: Type.Integer(),
  results: Type.Array(PowerResultOut),
});

export const PowerStatusOut = Type.Object(
  {
    node: Type.String(),
    state: StringEnum(['on', 'off', 'unknown']),
    checkedAt: Type.String({ description: 'ISO time of this read' }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'why the state is unknown' }),
    bmc: Type.Union([Type.String(), Type.Null()]),
    via: Type.Union([Type.String(), Type.Null()]),
    lastSeen: Type.Union([Type.Object({ state: Type.Union([Type.String(), Type.Null()]), at: Type.String() }), Type.Null()], { description: 'the last time the BMC answered, and the state then' }),
    lastAction: Type.Union([Type.Object({ action: Type.String(), ok: Type.Boolean(), at: Type.String(), error: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  },
  { $id: 'PowerStatus' },
);

export const ReprovisionIn = Type.Optional(
  Type.Object({ rebuild: Type.Optional(Type.Boolean({ description: "rebuild the node's image first and wait for the build" })) }, { additionalProperties: false }),
);

export const ReprovisionOut = Type.Object({
  node: Type.String(),
  build: Type.Union([Type.Object({ id: Type.String(), image: Type.String(), version: Type.Union([Type.String(), Type.Null()]), changed: Type.Union([Type.Boolean(), Type.Null()]) }), Type.Null()]),
  power: PowerResultOut,
});
