/**
 * Express middleware that holds a parsed JSON body to the shape bounds (../fhir/json-shape.ts) before any handler
 * walks it: FHIR API bodies (resources, Bundles, JSON Patch, Parameters), the admin channel and the authorization
 * server's JSON endpoints all go through it.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checkJsonShape, type JsonLimits, type JsonShapeProblem } from './json-shape.ts';

/**
 * Checks `req.body` when the request carried JSON (a form body is left to its handler) and calls `refuse` instead of
 * the next handler when it is outside `limits`.
 */
export function jsonBodyGuard(
  limits: JsonLimits,
  refuse: (req: Request, res: Response, problem: JsonShapeProblem) => void,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const body: unknown = req.body;
    if (body === null || typeof body !== 'object' || !/json/i.test(req.get('content-type') ?? '')) return next();
    const problem = checkJsonShape(body, limits);
    if (problem) refuse(req, res, problem);
    else next();
  };
}

/**
 * The limits for a body that wraps resources in an envelope of its own (the admin channel's
 * `{"items": [{"resource": …}]}`): a few levels deeper, and no size bound of its own (each resource is checked as a
 * resource where it is written).
 */
export function envelopeLimits(limits: JsonLimits, extraDepth = 4): JsonLimits {
  return {
    maxDepth: limits.maxDepth + extraDepth,
    maxArrayLength: Number.MAX_SAFE_INTEGER,
    maxResourceValues: Number.MAX_SAFE_INTEGER,
    maxBundleEntries: Number.MAX_SAFE_INTEGER,
  };
}
