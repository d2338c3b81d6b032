import { openDatabase } from '../store/open-db.ts';
const db = await openDatabase({ dataDir: process.argv[2] });
await db.query("ANALYZE");
for (const q of [
  ["EXPLAIN ANALYZE SELECT resource_type, id, version_id FROM resources WHERE tenant = $1 AND resource_type = $2 AND id = $3 FOR UPDATE", ['b', 'Observation', 'o77']],
  ["EXPLAIN ANALYZE SELECT 1 FROM sp_token WHERE tenant=$1 AND resource_type=$2 AND id=$3", ['b', 'Observation', 'o77']],
  ["SELECT relname, n_live_tup, last_analyze, last_autoanalyze FROM pg_stat_user_tables ORDER BY 1", []],
] as const) {
  const { rows } = await db.query(q[0], [...q[1]]);
  console.log(rows.map((r) => Object.values(r).join(' ')).join('\n'));
}
await db.close();
