// Certificates for HTTPS tests, made with the openssl command: a CA and a
// server certificate it signs (the way a site's BMCs are set up), and a
// self-signed one (the way BMCs come out of the box). EC P-256, valid two
// days, for 127.0.0.1 and localhost.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './netns.js';

export interface Pem {
  key: string;
  cert: string;
  /** Where the certificate is, for a caFile or a --cacert. */
  certFile: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const SAN = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

function read(dir: string, name: string): Pem {
  return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), certFile: join(dir, `${name}.crt`) };
}

export function makeCa(dir: string, name = 'ca'): Pem {
  mkdirSync(dir, { recursive: true });
  sh('openssl', ['req', '-x509', ...KEY, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=rackboot test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return read(dir, name);
}

/** A server certificate for 127.0.0.1/localhost signed by `ca`. */
export function makeSignedCert(dir: string, ca: Pem, name = 'bmc'): Pem {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, `${name}-ca.key`);
  writeFileSync(caKey, ca.key, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.ext`), `${SAN}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  sh('openssl', ['req', ...KEY, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`), '-subj', `/CN=${name}`]);
  sh('openssl', ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', ca.certFile, '-CAkey', caKey, '-CAcreateserial', '-out', join(dir, `${name}.crt`), '-days', '2', '-extfile', join(dir, `${name}.ext`)]);
  return read(dir, name);
}

export function makeSelfSigned(dir: string, name = 'selfsigned'): Pem {
  mkdirSync(dir, { recursive: true });
  sh('openssl', ['req', '-x509', ...KEY, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=${name}`, '-addext', SAN]);
  return read(dir, name);
}
