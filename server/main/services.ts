// The subsystems the server runs, in start order. Each factory returns
// undefined when its section is disabled.
import { httpBootService } from '../render/http.js';
import { renderService } from '../render/service.js';
import type { ServiceFactory } from '../service.js';
import { nfsServiceFactory } from '../nfs/service.js';
import { tftpServiceFactory } from '../tftp/service.js';
import { directorFactory } from '../director/service.js';
import { dhcpServiceFactory } from '../dhcp/service.js';
import { imagesFactory } from '../images/service.js';
import { uiFactory } from '../ui/service.js';
import { powerFactory } from '../power/service.js';
import { raServiceFactory } from '../ra/service.js';

export const SERVICE_FACTORIES: ServiceFactory[] = [nfsServiceFactory, imagesFactory, tftpServiceFactory, dhcpServiceFactory(), raServiceFactory, directorFactory(), renderService, httpBootService, powerFactory(), uiFactory];
