import { readFileSync } from 'node:fs';
import { loadDefinitions } from '../fhir/definitions.ts';
import { createFhirRouter } from '../http/routes.ts';
import { servedResourceTypes } from '../server.ts';
import { importResources } from '../store/import.ts';
import { openDatabase } from '../store/open-db.ts';
loadDefinitions();
const chunk = Number(process.env.CHUNK ?? 250);
const lines = readFileSync('/tmp/hvb/Observation.ndjson', 'utf8').trim().split('\n').map((l, i) => ({ at: i + 1, resource: JSON.parse(l) }));
const db = await openDatabase({ dataDir: process.env.DIR ?? '/tmp/hvb/bench2-' + Date.now(), databaseUrl: process.env.DATABASE_URL });
const ctx = { db, router: createFhirRouter(() => {}), tenant: 'b', baseUrl: 'http://x', cursorSecret: 's', servedTypes: new Set(servedResourceTypes()) };
let t = performance.now();
const t0 = t;
for (let i = 0; i < lines.length; i += chunk) {
  await importResources(ctx, lines.slice(i, i + chunk), 'line');
  if ((i + chunk) % 1000 === 0) { const now = performance.now(); console.log(i + chunk, ((now - t) / 1000).toFixed(2), 's/1000'); t = now; }
}
console.log('total', ((performance.now() - t0) / 1000).toFixed(1), 'rate', Math.round(lines.length / ((performance.now() - t0) / 1000)));
await db.close();
