import { Type, type Static } from '@sinclair/typebox';
import { Port, Section } from '../config/types.js';

export const TftpConfigSchema = Section({
  enabled: Type.Boolean(),
  /** Address to bind; 0.0.0.0 answers on every interface. */
  address: Type.String(),
  port: Port,
  /** Static files (boot loaders). */
  root: Type.String(),
  maxBlksize: Type.Integer({ minimum: 8, maximum: 65464 }),
  maxWindowsize: Type.Integer({ minimum: 1, maximum: 65535 }),
  maxTransfers: Type.Integer({ minimum: 1 }),
});
export type TftpConfig = Static<typeof TftpConfigSchema>;
export const TFTP_DEFAULTS: TftpConfig = {
  enabled: true,
  address: '0.0.0.0',
  port: 69,
  root: './tftpboot',
  maxBlksize: 1468,
  maxWindowsize: 64,
  maxTransfers: 512,
};
