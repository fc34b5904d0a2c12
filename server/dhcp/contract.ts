// The service contract as the DHCP server uses it, imported here only, so
// that moving it (issue 18: main/service.ts -> server/service.ts) changes one
// line under server/dhcp besides service.ts.
export { explainBindError, ServiceStartError, type ServiceContext } from '../service.js';
