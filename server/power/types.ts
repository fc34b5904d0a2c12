// Power actions, states and the errors a BMC driver reports.

export const POWER_ACTIONS = ['on', 'off', 'cycle', 'reset', 'soft'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];
export const BOOT_DEVICES = ['pxe', 'disk'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];
export type PowerState = 'on' | 'off';

/** Actions that start a machine: a bulk request spaces them by the stagger. */
export const STARTING_ACTIONS: ReadonlySet<string> = new Set(['on', 'cycle', 'reset']);

/**
 * Why a BMC operation failed. auth: the BMC refused the credentials (never
 * retried: a BMC locks an account out after a few); timeout: no answer in
 * time; unreachable: no route, refused connection; tls: the certificate is
 * not trusted; refused: the BMC answered with an error; tool: the command
 * could not run (not installed).
 */
export type BmcErrorKind = 'auth' | 'timeout' | 'unreachable' | 'tls' | 'refused' | 'tool';

export class BmcError extends Error {
  constructor(
    readonly kind: BmcErrorKind,
    message: string,
    /** The command or request that was tried (never with a password). */
    readonly tried: string,
  ) {
    super(message);
    this.name = 'BmcError';
  }
}

/** One BMC's operations; each call is one tool run or one Redfish exchange. */
export interface PowerDriver {
  /** How this driver talks to the BMC, for events and messages ("ipmitool lanplus -C 3"). */
  readonly via: string;
  status(): Promise<PowerState>;
  power(action: PowerAction): Promise<void>;
  bootDevice(device: BootDevice, persistent: boolean): Promise<void>;
}
