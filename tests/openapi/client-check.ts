// Compiled by ./ct test (OpenApiClientTests) against api.d.ts, the types openapi-typescript generates from the
// running app's /api/openapi.json. Each line fails to compile when the document stops describing the API exactly:
// numbers typed as strings, paging parameters as text, enums lost, a schema missing.
import type { components, paths } from "./api";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(): T | void {}

type Schemas = components["schemas"];
type Call = Schemas["CallDto"];

// int64 and double are numbers, never `number | string`
assertType<Equals<Call["id"], number>>();
assertType<Equals<Call["ringSeconds"], number>>();
assertType<Equals<Call["talkSeconds"], number>>();
assertType<Equals<Call["remoteE164"], string | null>>();
assertType<Equals<Call["direction"], "inbound" | "outbound" | "internal">>();
assertType<Equals<Schemas["SmsDto"]["attempts"], number>>();
assertType<Equals<Schemas["ContactDto"]["id"], number>>();

// query parameters: integers and enums
type CallsQuery = NonNullable<paths["/api/calls"]["get"]["parameters"]["query"]>;
assertType<Equals<CallsQuery["page"], number | undefined>>();
assertType<Equals<CallsQuery["pageSize"], number | undefined>>();
assertType<Equals<CallsQuery["direction"], "inbound" | "outbound" | "internal" | undefined>>();
assertType<Equals<CallsQuery["status"], "answered" | "missed" | "busy" | "failed" | "voicemail" | "unknown" | undefined>>();
assertType<Equals<CallsQuery["sort"], "desc" | "asc" | "updated" | undefined>>();
assertType<Equals<CallsQuery["updatedSince"], string | undefined>>();
type ContactsQuery = NonNullable<paths["/api/contacts"]["get"]["parameters"]["query"]>;
assertType<Equals<ContactsQuery["pageSize"], number | undefined>>();

// answers and bodies that have schemas
type CallPage = paths["/api/calls"]["get"]["responses"][200]["content"]["application/json"];
assertType<Equals<CallPage["total"], number>>();
assertType<Equals<CallPage["next"], string | null>>();
type CallsCsv = paths["/api/calls"]["get"]["responses"][200]["content"]["text/csv"];
assertType<Equals<CallsCsv, string>>();
type Health = paths["/api/health"]["get"]["responses"][200]["content"]["application/json"];
assertType<Equals<Health["status"], string>>();
type Frames = paths["/api/frames"]["post"]["requestBody"] extends { content: { "application/json": infer B } } | undefined ? B : never;
assertType<Equals<Frames, Schemas["Envelope"][]>>();
assertType<Equals<Schemas["Envelope"]["seq"], number>>();
type Ingested = paths["/api/frames"]["post"]["responses"][200]["content"]["application/json"];
assertType<Equals<Ingested["stored"], number>>();
type Heartbeat = paths["/api/heartbeat"]["post"]["requestBody"] extends { content: { "application/json": infer B } } | undefined ? B : never;
assertType<Equals<Heartbeat, Schemas["RelayHeartbeat"]>>();
type CustomerDataBody = paths["/api/callevent/getcustomerdata"]["post"]["requestBody"] extends { content: { "application/json": infer B } } | undefined ? B : never;
assertType<Equals<CustomerDataBody["Phone"], string>>();
type CustomerData = paths["/api/callevent/getcustomerdata"]["post"]["responses"][200]["content"]["application/json"];
assertType<Equals<CustomerData["DialPlan"], string | null>>();
type RoutingStats = paths["/api/routing/stats"]["get"]["responses"][200]["content"]["application/json"];
assertType<Equals<RoutingStats["p99Ms"], number>>();
type ContactById = paths["/api/contacts/{id}"]["get"]["responses"][200]["content"]["application/json"];
assertType<Equals<ContactById, Schemas["ContactDto"]>>();
type ContactByNumber = paths["/api/numbers/{number}/contact"]["get"]["responses"][200]["content"]["application/json"];
assertType<Equals<ContactByNumber, Schemas["ContactDto"]>>();

// A tiny client written against the types: an incremental sync loop over sort=updated.
export async function syncCalls(baseUrl: string, token: string, cursor: string | null, store: (call: Call) => void): Promise<string> {
  const query: CallsQuery = { sort: "updated", pageSize: 500 };
  let url = cursor ?? `/api/calls?sort=${query.sort}&pageSize=${query.pageSize}`;
  for (;;) {
    const response = await fetch(baseUrl + url, { headers: { Authorization: `Bearer ${token}` } });
    const page = (await response.json()) as CallPage;
    page.items.forEach(store);
    if (page.next === null || page.items.length < page.pageSize) {
      return page.next ?? url;
    }
    url = page.next;
  }
}
