// A blade's firmware in the lab: SeaBIOS with QEMU's iPXE NIC ROM (BIOS), or
// OVMF (UEFI) with the NIC's ROM left out, so OVMF's own network boot runs:
// PXE (DHCP architecture 7) or HTTP boot (architecture 16, class
// HTTPClient), optionally with Secure Boot on (OVMF's Secure Boot build and
// a copy of its vars with Microsoft's keys enrolled). Pure: options in, QEMU
// arguments out.
import { copyFileSync, existsSync } from 'node:fs';

export type LabFirmware = 'bios' | 'uefi';

export interface BladeFirmware {
  firmware: LabFirmware;
  /** UEFI only: boot by UEFI HTTP boot instead of PXE. */
  httpBoot: boolean;
  /** UEFI only: Secure Boot on (Microsoft's keys enrolled). */
  secureBoot: boolean;
}

export const BIOS: BladeFirmware = { firmware: 'bios', httpBoot: false, secureBoot: false };

/** Debian's ovmf package: the 4 MiB builds (code read-only, vars copied per blade). */
export const OVMF = {
  code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  /** Secure Boot build (needs SMM: q35, smm=on, secure flash). */
  secureCode: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
  /** Vars with Microsoft's keys enrolled and Secure Boot on. */
  secureVars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
};

export function describeFirmware(f: BladeFirmware): string {
  if (f.firmware === 'bios') return 'BIOS (SeaBIOS, iPXE ROM)';
  return `UEFI (OVMF${f.secureBoot ? ', Secure Boot' : ''}) ${f.httpBoot ? 'HTTP boot' : 'PXE'}`;
}

/** The OVMF files a firmware needs that are missing here (package ovmf). */
export function missingFirmware(f: BladeFirmware): string[] {
  if (f.firmware === 'bios') return [];
  const files = f.secureBoot ? [OVMF.secureCode, OVMF.secureVars] : [OVMF.code, OVMF.vars];
  return files.filter((p) => !existsSync(p));
}

/** Puts a fresh copy of the vars a blade's firmware writes (boot order, Secure Boot state) at `varsCopy`. */
export function freshVars(f: BladeFirmware, varsCopy: string): void {
  if (f.firmware === 'uefi') copyFileSync(f.secureBoot ? OVMF.secureVars : OVMF.vars, varsCopy);
}

/** QEMU arguments for the firmware (machine, flash), before the NICs. */
export function firmwareArgs(f: BladeFirmware, varsCopy: string): string[] {
  if (f.firmware === 'bios') return ['-boot', 'n'];
  const args: string[] = [];
  if (f.secureBoot) args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
  args.push(
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${f.secureBoot ? OVMF.secureCode : OVMF.code}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${varsCopy}`,
  );
  // OVMF tries PXE over IPv4, then IPv6, then HTTP boot; fw_cfg switches the PXE ones off.
  args.push('-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n');
  if (f.httpBoot) args.push('-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n');
  return args;
}

/** The NIC's extra properties: no option ROM under UEFI (OVMF's own network boot), the first NIC boots. */
export function nicProps(f: BladeFirmware, index: number): string {
  if (f.firmware === 'bios') return '';
  return `,romfile=${index === 0 ? ',bootindex=1' : ''}`;
}
