/**
 * Turns a router result into an HTTP response: status, FHIR headers (ETag, Last-Modified, Location),
 * Prefer: return=…, conditional read (If-None-Match / If-Modified-Since), _pretty, _summary/_elements, and the
 * warnings of an allowed write (as `Warning` headers, and in the body with Prefer: return=OperationOutcome).
 */
import { getStatus, isOk } from '@medplum/core';
import type { FhirResponse } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { withDiagnostics } from './outcome.ts';
import { applySummary, type SummaryOptions } from './summary.ts';

/** The FHIR JSON media type Haven answers with. */
export const FHIR_JSON = 'application/fhir+json';

/** Writes a FHIR JSON body (pretty when asked). */
export function sendFhirJson(req: Request, res: Response, status: number, body: unknown): void {
  const pretty = req.query._pretty === 'true';
  res
    .status(status)
    .type(FHIR_JSON)
    .send(JSON.stringify(body, null, pretty ? 2 : undefined));
}

function preferReturn(req: Request): 'minimal' | 'representation' | 'OperationOutcome' | undefined {
  const prefer = req.get('prefer') ?? '';
  const m = /return=(minimal|representation|OperationOutcome)/.exec(prefer);
  return m ? (m[1] as 'minimal' | 'representation' | 'OperationOutcome') : undefined;
}

function isVersioned(resource: Resource | undefined): resource is Resource & { meta: { versionId: string; lastUpdated: string } } {
  return (
    !!resource &&
    resource.resourceType !== 'Bundle' &&
    resource.resourceType !== 'OperationOutcome' &&
    !!resource.meta?.versionId &&
    !!resource.meta.lastUpdated &&
    !!resource.id
  );
}

/**
 * An HTTP `Warning` value (RFC 7234 §5.5; code 199 "Miscellaneous warning", agent "-"): printable ASCII in a quoted
 * string. The header is the one place a default response (the resource itself) can carry a warning; its text never
 * holds PHI (write warnings name references and instruments only).
 */
export function warningHeader(text: string): string {
  const ascii = text
    .slice(0, 300)
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/["\\]/g, (c) => `\\${c}`);
  return `199 - "${ascii}"`;
}

/** True when a conditional read may answer 304 (RFC 9110 §13.1.2, §13.1.3; If-None-Match wins). */
export function notModified(req: Request, resource: Resource & { meta: { versionId: string; lastUpdated: string } }): boolean {
  const inm = req.get('if-none-match');
  if (inm) {
    return inm
      .split(',')
      .map((t) => t.trim())
      .some((t) => t === '*' || t === `W/"${resource.meta.versionId}"` || t === `"${resource.meta.versionId}"`);
  }
  const ims = req.get('if-modified-since');
  if (ims) {
    const since = Date.parse(ims);
    // HTTP dates have second precision: compare at that precision.
    if (!Number.isNaN(since)) return Math.floor(Date.parse(resource.meta.lastUpdated) / 1000) * 1000 <= since;
  }
  return false;
}

/** Sends a router result. `baseUrl` is the tenant's FHIR base; `isRead` enables conditional read. */
export function sendFhirResponse(
  req: Request,
  res: Response,
  result: FhirResponse,
  baseUrl: string,
  isRead: boolean,
  summary: SummaryOptions | undefined,
): void {
  const [outcome, resource] = result;
  const status = getStatus(outcome);
  if (!isOk(outcome) && status >= 400) {
    sendFhirJson(req, res, status, withDiagnostics(outcome));
    return;
  }
  for (const issue of outcome.issue ?? []) {
    const text = issue.severity === 'warning' ? (issue.details?.text ?? issue.diagnostics) : undefined;
    if (text) res.append('Warning', warningHeader(text));
  }
  if (isVersioned(resource)) {
    res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
    res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    if (status === 201) res.setHeader('Location', `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`);
    if (isRead && notModified(req, resource)) {
      res.status(304).end();
      return;
    }
  }
  if (!resource) {
    sendFhirJson(req, res, status, withDiagnostics(outcome));
    return;
  }
  const isWrite = req.method !== 'GET' && !(req.method === 'POST' && /\/_search$/.test(req.path));
  const prefer = isWrite ? preferReturn(req) : undefined;
  if (prefer === 'minimal') {
    res.status(status).end();
    return;
  }
  if (prefer === 'OperationOutcome') {
    const info: OperationOutcome = outcome.issue?.length
      ? outcome
      : { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] };
    sendFhirJson(req, res, status, withDiagnostics(info));
    return;
  }
  sendFhirJson(req, res, status, summary ? applySummary(resource, summary) : resource);
}
