/**
 * The server's CapabilityStatement (`GET [base]/metadata`), generated from what Haven implements.
 * https://hl7.org/fhir/R4/capabilitystatement.html and https://hl7.org/fhir/R4/http.html#capabilities
 *
 * Pure: the same inputs give the same statement, byte for byte. Every list is sorted (interactions in the
 * order R4 defines them, everything else alphabetically), and nothing is claimed that the inputs do not
 * say is served: an interaction, operation or conditional flag appears only when its interaction does.
 */
import type {
  CapabilityStatement,
  CapabilityStatementRestInteraction,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceInteraction,
  CapabilityStatementRestResourceOperation,
  CapabilityStatementRestResourceSearchParam,
  CapabilityStatementRestSecurity,
  ResourceType,
} from '@medplum/fhirtypes';

/** One search parameter of a resource type, as the search engine supports it. */
export interface CapabilitySearchParam {
  name: string;
  type: string;
  definition?: string;
  documentation?: string;
  /**
   * Resource types a reference parameter can point to (SearchParameter.target); 'Resource' means any type.
   * A reference parameter without targets is listed in `searchInclude` but in no type's `searchRevInclude`.
   */
  target?: string[];
}

export interface CapabilityInputs {
  baseUrl: string;
  software: { name: string; version: string };
  /** The statement's `date` (an R4 dateTime); passed in so the output stays a pure function of its inputs. */
  now: string;
  /** Every R4 resource type served. */
  resourceTypes: string[];
  /** Type and instance interactions, served on every type: read vread update patch delete history-instance … */
  typeInteractions: string[];
  /** Whole-system interactions: transaction batch search-system history-system. */
  systemInteractions: string[];
  searchParams: (resourceType: string) => CapabilitySearchParam[];
  /** List `_include` and `_revinclude` values per type, built from reference search parameters. */
  searchRevIncludes?: boolean;
  /** Operations by name (with or without `$`); `resourceTypes` absent means every served type. */
  operations: { name: string; definition: string; resourceTypes?: string[] }[];
  formats: string[];
  /** Patch formats accepted (e.g. 'application/json-patch+json'); listed only when patch is served. */
  patchFormats?: string[];
  conditional: {
    create: boolean;
    update: boolean;
    delete: 'not-supported' | 'single' | 'multiple';
    read: 'not-supported' | 'modified-since' | 'not-match' | 'full-support';
  };
  /** Haven profiles a type supports (canonical URLs), as `supportedProfile`. */
  supportedProfiles?: (resourceType: string) => string[];
  /** SMART on FHIR security block, when authorization is on. */
  security?: CapabilityStatementRestSecurity;
}

type TypeInteraction = CapabilityStatementRestResourceInteraction['code'];
type SystemInteraction = CapabilityStatementRestInteraction['code'];
type SearchParamType = CapabilityStatementRestResourceSearchParam['type'];

// R4 value sets type-restful-interaction and system-restful-interaction, in their defined order.
const TYPE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
] as const satisfies readonly TypeInteraction[];
const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'search-system', 'history-system'] as const satisfies readonly SystemInteraction[];
const SEARCH_PARAM_TYPES = [
  'number',
  'date',
  'string',
  'token',
  'reference',
  'composite',
  'quantity',
  'uri',
  'special',
] as const satisfies readonly SearchParamType[];

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort(byString);

/** Keeps the requested codes in the value set's order; an unknown code is a programming error. */
function pick<T extends string>(allowed: readonly T[], requested: string[], what: string): T[] {
  const unknown = requested.filter((r) => !(allowed as readonly string[]).includes(r));
  if (unknown.length > 0) throw new Error(`Unknown ${what}: ${unknown.join(', ')}`);
  return allowed.filter((code) => requested.includes(code));
}

function searchParamsOf(inputs: CapabilityInputs, type: string): CapabilitySearchParam[] {
  const params = [...inputs.searchParams(type)].sort((a, b) => byString(a.name, b.name));
  params.forEach((p, n) => {
    // cpb-12: search parameter names must be unique in the context of a resource.
    if (n > 0 && params[n - 1]?.name === p.name) throw new Error(`Duplicate search parameter ${type}.${p.name}`);
    if (!(SEARCH_PARAM_TYPES as readonly string[]).includes(p.type)) {
      throw new Error(`Search parameter ${type}.${p.name} has unknown type ${p.type}`);
    }
  });
  return params;
}

function targetsType(param: CapabilitySearchParam, type: string): boolean {
  // Unknown targets are not read as "any": that would list every reference parameter under every type.
  return !!param.target && (param.target.includes('Resource') || param.target.includes(type));
}

/** Builds the R4 CapabilityStatement for a server instance from what it implements. */
export function buildCapabilityStatement(inputs: CapabilityInputs): CapabilityStatement {
  const types = sortedUnique(inputs.resourceTypes);
  const typeInteractions = pick(TYPE_INTERACTIONS, inputs.typeInteractions, 'type interaction');
  const systemInteractions = pick(SYSTEM_INTERACTIONS, inputs.systemInteractions, 'system interaction');
  const serves = (code: TypeInteraction): boolean => typeInteractions.includes(code);
  const searchable = serves('search-type');

  const params = new Map(types.map((type) => [type, searchable ? searchParamsOf(inputs, type) : []]));
  const referenceParams = (type: string): CapabilitySearchParam[] => (params.get(type) ?? []).filter((p) => p.type === 'reference');

  const operationsOf = (type: string): CapabilityStatementRestResourceOperation[] => {
    const ops = new Map<string, CapabilityStatementRestResourceOperation>();
    for (const op of inputs.operations) {
      if (op.resourceTypes && !op.resourceTypes.includes(type)) continue;
      const name = op.name.replace(/^\$/, ''); // R4: the name is what follows the '$'
      ops.set(`${name} ${op.definition}`, { name, definition: op.definition });
    }
    return [...ops.values()].sort((a, b) => byString(a.name, b.name) || byString(a.definition, b.definition));
  };

  const resource = types.map((type): CapabilityStatementRestResource => {
    const entry: CapabilityStatementRestResource = {
      type: type as ResourceType,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    };
    const supported = sortedUnique(inputs.supportedProfiles?.(type) ?? []);
    if (supported.length > 0) entry.supportedProfile = supported;
    entry.interaction = typeInteractions.map((code) => ({ code }));
    entry.versioning = 'versioned';
    entry.readHistory = serves('vread');
    entry.updateCreate = serves('update');
    entry.conditionalCreate = serves('create') && inputs.conditional.create;
    entry.conditionalRead = serves('read') ? inputs.conditional.read : 'not-supported';
    entry.conditionalUpdate = serves('update') && inputs.conditional.update;
    entry.conditionalDelete = serves('delete') ? inputs.conditional.delete : 'not-supported';
    entry.referencePolicy = ['literal', 'logical'];
    if (searchable && inputs.searchRevIncludes) {
      // R4 search.html#include: _include=[type]:[param], _revinclude=[source type]:[param] pointing here.
      const include = referenceParams(type).map((p) => `${type}:${p.name}`);
      const revInclude = types.flatMap((source) =>
        referenceParams(source)
          .filter((p) => targetsType(p, type))
          .map((p) => `${source}:${p.name}`),
      );
      if (include.length > 0) entry.searchInclude = sortedUnique(include);
      if (revInclude.length > 0) entry.searchRevInclude = sortedUnique(revInclude);
    }
    const searchParam = (params.get(type) ?? []).map(({ name, type: paramType, definition, documentation }) => ({
      name,
      type: paramType as SearchParamType,
      ...(definition ? { definition } : {}),
      ...(documentation ? { documentation } : {}),
    }));
    if (searchParam.length > 0) entry.searchParam = searchParam;
    const operation = operationsOf(type);
    if (operation.length > 0) entry.operation = operation;
    return entry;
  });

  const formats = [...new Set(inputs.formats)]; // caller's order is its preference order
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: inputs.now,
    publisher: inputs.software.name,
    kind: 'instance',
    software: { name: inputs.software.name, version: inputs.software.version },
    implementation: { description: `${inputs.software.name} FHIR R4 server`, url: inputs.baseUrl },
    fhirVersion: '4.0.1',
    format: formats,
    ...(serves('patch') && inputs.patchFormats?.length ? { patchFormat: [...new Set(inputs.patchFormats)] } : {}),
    rest: [
      {
        mode: 'server',
        ...(inputs.security ? { security: inputs.security } : {}),
        resource,
        ...(systemInteractions.length > 0 ? { interaction: systemInteractions.map((code) => ({ code })) } : {}),
      },
    ],
  };
}
