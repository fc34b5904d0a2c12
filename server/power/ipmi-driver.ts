// An IPMI BMC driven by ipmitool or FreeIPMI: one tool run per operation,
// except FreeIPMI status reads and power actions, which share ipmipower runs
// with other BMCs asked at the same moment (ipmipower-batch.ts).
import type { CommandRunner } from '../director/exec.js';
import type { EffectiveBmc } from './bmc.js';
import type { IpmiTool } from './config.js';
import { freeipmiCommand, ipmitoolCommand, ipmiVia, parseIpmi, type IpmiOp } from './ipmi.js';
import { IpmipowerBatcher, withPasswordFile } from './ipmipower-batch.js';
import type { BootDevice, PowerAction, PowerDriver, PowerState } from './types.js';

export class IpmiDriver implements PowerDriver {
  readonly via: string;

  constructor(
    private readonly runner: CommandRunner,
    private readonly tool: IpmiTool,
    private readonly bmc: EffectiveBmc,
    private readonly password: string,
    private readonly o: { timeoutMs: number; retries: number },
    private readonly batcher?: IpmipowerBatcher,
  ) {
    this.via = ipmiVia(tool, bmc);
  }

  private async run(op: IpmiOp): Promise<PowerState | undefined> {
    if (this.tool === 'ipmitool') {
      const c = ipmitoolCommand(this.bmc, this.password, op, this.o);
      const r = await this.runner.run(c.cmd, c.args, { env: c.env, timeoutMs: this.o.timeoutMs });
      return parseIpmi(this.tool, op, r, c, this.bmc, this.o.timeoutMs);
    }
    if (this.batcher && op.kind !== 'bootdev' && IpmipowerBatcher.batchable(this.bmc)) return this.batcher.submit(this.bmc, this.password, op);
    return withPasswordFile(this.password, async (file) => {
      const c = freeipmiCommand(this.bmc, file, op, this.o);
      const r = await this.runner.run(c.cmd, c.args, { timeoutMs: this.o.timeoutMs });
      return parseIpmi(this.tool, op, r, c, this.bmc, this.o.timeoutMs);
    });
  }

  async status(): Promise<PowerState> {
    return (await this.run({ kind: 'status' }))!;
  }

  async power(action: PowerAction): Promise<void> {
    await this.run({ kind: 'power', action });
  }

  async bootDevice(device: BootDevice, persistent: boolean): Promise<void> {
    await this.run({ kind: 'bootdev', device, persistent });
  }
}
