// The subsystems the server runs, in start order. Each factory returns
// undefined when its section is disabled.
import { dhcpService } from '../dhcp/service.js';
import { directorService } from '../director/service.js';
import { imagesService } from '../images/service.js';
import { nfsService } from '../nfs/service.js';
import { PAIR_SERVICE } from '../pair/service.js';
import { powerService } from '../power/service.js';
import { raService } from '../ra/service.js';
import { httpBootService } from '../render/http.js';
import { renderService } from '../render/service.js';
import type { DeclaredServiceFactory, ServiceDeclaration, ServiceFactory } from '../service.js';
import { tftpService } from '../tftp/service.js';
import { uiService } from '../ui/service.js';

export const SERVICE_FACTORIES: readonly DeclaredServiceFactory[] = [
  nfsService,
  imagesService,
  tftpService,
  dhcpService(),
  raService,
  directorService(),
  renderService,
  httpBootService,
  powerService(),
  uiService,
];

/** Every subsystem this server knows, running or not (a test's factories may replace some), one per name. */
export function serviceDeclarations(factories: readonly ServiceFactory[]): ServiceDeclaration[] {
  const byName = new Map<string, ServiceDeclaration>();
  for (const d of [PAIR_SERVICE, ...SERVICE_FACTORIES.map((f) => f.declared), ...factories.map((f) => f.declared)]) if (d) byName.set(d.name, d);
  return [...byName.values()];
}
