-- Extended planner statistics for the search-index tables. Every resource type and every search parameter share
-- these tables, so their columns are strongly correlated (a `code` belongs to some resource types; a token value
-- mostly to one code and one system), while the planner by default multiplies their selectivities as if they were
-- independent. It then underestimated a common code (LOINC 8480-6: 24 rows expected, 300 found among 5,000
-- resources) and started `Observation?subject=…&code=…` from the code instead of the patient: 6.5 ms instead of
-- 2.7 ms of execution on embedded storage. Extended statistics give it the joint
-- frequencies (multi-column MCV lists; functional dependencies were tried too, and made ANALYZE of sp_token four
-- times slower for no better plan). Filled by ANALYZE like any statistics.
CREATE STATISTICS sp_token_joint (mcv) ON resource_type, code, system, value FROM sp_token;
CREATE STATISTICS sp_reference_joint (mcv) ON resource_type, code, target_type FROM sp_reference;
CREATE STATISTICS sp_string_joint (mcv) ON resource_type, code FROM sp_string;
CREATE STATISTICS sp_date_joint (mcv) ON resource_type, code FROM sp_date;
CREATE STATISTICS sp_number_joint (mcv) ON resource_type, code FROM sp_number;
CREATE STATISTICS sp_quantity_joint (mcv) ON resource_type, code, system, unit_code FROM sp_quantity;
CREATE STATISTICS sp_uri_joint (mcv) ON resource_type, code FROM sp_uri;
CREATE STATISTICS sp_composite_joint (mcv) ON resource_type, code, c1_value FROM sp_composite;

-- Nothing ever filters or sorts on the stored JSON: statistics on it only make every ANALYZE read and compare documents.
ALTER TABLE resources ALTER COLUMN content SET STATISTICS 0;
ALTER TABLE resource_history ALTER COLUMN content SET STATISTICS 0;
