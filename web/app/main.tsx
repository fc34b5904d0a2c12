// The dashboard's entry: load the rack, open the live stream, render.
import { render } from 'preact';
import { App } from './app.js';
import { live } from './live.js';
import { focusSearchKey } from './pages/rack.js';
import { interceptLinks } from './router.js';

const root = document.getElementById('app')!;
root.textContent = '';
interceptLinks(document.body);
document.addEventListener('keydown', focusSearchKey);
// Connect first: events recorded while the snapshot loads are applied on top of it.
live.connect();
void live.load().then(() => {
  // The browser test reads this mark: first paint of a full rack.
  requestAnimationFrame(() => performance.mark('rackboot:rack-painted'));
});
render(<App />, root);
