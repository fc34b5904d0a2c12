// Records as the API answers them: a BMC without its sealed password.
import { bmcView } from '../store/bmc.js';
import type { GroupRecord, NodeRecord } from '../store/types.js';

export const nodeView = (n: NodeRecord) => ({ ...n, bmc: bmcView(n.bmc) });
export const groupView = (g: GroupRecord) => ({ ...g, bmc: bmcView(g.bmc) });
