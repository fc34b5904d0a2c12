// Every CLI command group; a subsystem adds its register function here.
import type { Command } from 'commander';
import { registerConfig } from './config.js';
import { registerImage } from './image.js';
import { registerNode } from './node.js';
import { registerContent, registerExport } from './nfs.js';
import { registerRender } from './render.js';
import { registerServe } from './serve.js';
import { registerDirector } from './director.js';
import { registerImport } from './import.js';
import { registerLease } from './lease.js';
import { registerStore } from './store.js';
import { registerPair } from './pair.js';

export const COMMANDS: Array<(program: Command) => void> = [registerServe, registerConfig, registerNode, registerDirector, registerImage, registerExport, registerContent, registerRender, registerImport, registerLease, registerStore, registerPair];
