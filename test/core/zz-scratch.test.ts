import { test } from 'vitest';
import { open } from 'epochdb';
test('x', async () => {
  try { const db = await open(); console.log('open ok'); await db.close(); } catch (e) { console.log('open fails', e); }
});
