// The renderer as a service: the engine over templates.dir and the shipped
// templates/, the node renderer in the hub's slot (for the images service's
// overlays and anyone else), the boot-config provider, and operator routes.
import { declareService, type Service } from '../service.js';
import { renderApiRoutes } from './api.js';
import { TemplateEngine } from './engine.js';
import { RenderProvider, renderMetrics } from './provider.js';
import { BootRenderer } from './renderer.js';

// The renderer also adds a node's render and scope routes under /nodes.
const RENDER = {
  name: 'render',
  title: 'the template renderer',
  enable: 'templates.enabled: true',
  apiPrefixes: ['/api/v1/templates'],
  apiPaths: /^\/api\/v1\/nodes\/[^/]+\/(render|scope)(\/|$)/,
};

export const renderService = declareService(RENDER, (ctx): Service | undefined => {
  const { cfg } = ctx;
  if (!cfg.config.templates.enabled) return undefined;
  const log = ctx.log.child({ svc: 'render' });
  const engine = new TemplateEngine(cfg.paths.userTemplates, cfg.paths.shippedTemplates);
  const renderer = new BootRenderer({ cfg, store: ctx.store, registry: ctx.registry, boot: ctx.boot, apiToken: ctx.apiToken, engine });
  const provider = new RenderProvider(renderer, cfg, ctx.events, log, renderMetrics(ctx.metrics));
  return {
    name: 'render',
    async start() {
      // templates.dir exists: the config check (render/config.ts) refused the config otherwise.
      const dir = cfg.paths.userTemplates;
      ctx.boot.renderer = renderer;
      ctx.boot.addProvider(provider);
      const overrides = engine.list().filter((t) => t.origin === 'operator');
      log.info(`render: boot configs from ${dir ? `${dir} (${overrides.length} override(s)) over ` : ''}${cfg.paths.shippedTemplates}`);
    },
    async stop() {
      ctx.boot.removeProvider(provider);
      if (ctx.boot.renderer === renderer) ctx.boot.renderer = undefined;
    },
    apiRoutes: renderApiRoutes(renderer),
    health: () => ({ ok: true, detail: `templates: ${cfg.paths.userTemplates ?? 'shipped only'}` }),
  };
});
