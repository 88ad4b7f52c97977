// The official client ships no types; this declares the part suppressd uses.
// See node_modules/@mailchimp/mailchimp_marketing/src/ApiClient.js and src/api/*.js.
declare module "@mailchimp/mailchimp_marketing/src/ApiClient.js" {
  type Json = Record<string, unknown>;
  type MemberOpts = { skipMergeValidation?: boolean };
  export default class ApiClient {
    basePath: string;
    timeout: number;
    defaultHeaders: Record<string, string>;
    setConfig(config: { apiKey?: string; accessToken?: string; server?: string }): void;
    ping: { get(): Promise<Json> };
    lists: {
      getList(listId: string, opts?: { fields?: string[] }): Promise<Json>;
      getListMember(listId: string, hash: string, opts?: { fields?: string[] }): Promise<Json>;
      getListMembersInfo(listId: string, opts?: Record<string, unknown>): Promise<Json>;
      setListMember(listId: string, hash: string, body: Json, opts?: MemberOpts): Promise<Json>;
      updateListMember(listId: string, hash: string, body: Json, opts?: MemberOpts): Promise<Json>;
      updateListMemberTags(listId: string, hash: string, body: Json): Promise<Json | null>;
      batchListMembers(listId: string, body: Json, opts?: MemberOpts): Promise<Json>;
    };
    batches: {
      start(body: Json): Promise<Json>;
      status(batchId: string): Promise<Json>;
    };
  }
}
