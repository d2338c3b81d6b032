import { readFileSync } from 'node:fs';
import { loadDefinitions } from '../fhir/definitions.ts';
import { validateFhirResource } from '../fhir/validate.ts';
import { extractIndexRows } from '../store/indexer.ts';
import { buildVersionWrite } from '../store/write-version.ts';
import { openDatabase } from '../store/open-db.ts';
loadDefinitions();
const lines = readFileSync('/tmp/hvb/Observation.ndjson', 'utf8').trim().split('\n').slice(0, 1000).map((l) => JSON.parse(l));
let t = performance.now();
for (const r of lines) validateFhirResource(r);
console.log('validate ms/res', (performance.now() - t) / lines.length);
t = performance.now();
for (const r of lines) extractIndexRows(r);
console.log('index ms/res', (performance.now() - t) / lines.length);
const db = await openDatabase({ dataDir: '/tmp/hvb/bench-' + Date.now(), databaseUrl: process.env.DATABASE_URL });
t = performance.now();
await db.transaction(async (tx) => {
  for (const r of lines) {
    await tx.query('SELECT 1 FROM resources WHERE tenant = $1 AND resource_type = $2 AND id = $3 FOR UPDATE', ['b', r.resourceType, r.id]);
  }
});
console.log('select-for-update ms/res', (performance.now() - t) / lines.length);
t = performance.now();
await db.transaction(async (tx) => {
  for (const r of lines) {
    const w = buildVersionWrite({ tenant: 'b', resourceType: r.resourceType, id: r.id, versionId: 1, lastUpdated: new Date().toISOString(), method: 'PUT', content: r, index: extractIndexRows(r), replaces: true });
    await tx.query(w.sql, w.params);
  }
});
console.log('index+write ms/res', (performance.now() - t) / lines.length);
await db.close();
