import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import { Rcode, type Response } from '../dns/codec.js';

/** What asking one question on one transport gave. */
export type Exchange =
  | { readonly kind: 'answer'; readonly response: Response }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'send_error'; readonly error: string };

export type Ask = (name: string) => Promise<Exchange>;

export interface LookupResult {
  readonly outcome: DnsOutcome;
  /** Wire queries, search-list expansion and a TCP retry included. */
  readonly queries: number;
  readonly latencySeconds: number;
  /** TCP when the answer came over TCP (asked so, or a truncated UDP answer retried). */
  readonly transport: DnsTransport;
}

/**
 * One lookup as glibc's res_nsearch does it, against one nameserver: the candidates (search list
 * applied, see searchCandidates) in order; NXDOMAIN and NODATA move on to the next candidate,
 * SERVFAIL too (remembered: the lookup then fails with SERVFAIL unless a later candidate
 * answers), an answer ends it, and so do REFUSED, any other rcode, a timeout or a send error.
 * A truncated UDP answer is asked again over TCP (`retryTcp`) when the caller allows it.
 */
export async function lookup(
  candidates: readonly string[],
  ask: Ask,
  transport: DnsTransport,
  nowNs: () => bigint,
  retryTcp?: Ask,
): Promise<LookupResult> {
  const started = nowNs();
  let queries = 0;
  let used = transport;
  let sawServfail = false;
  let sawNodata = false;
  const done = (outcome: DnsOutcome): LookupResult => ({
    outcome,
    queries,
    latencySeconds: Number(nowNs() - started) / 1e9,
    transport: used,
  });
  for (const name of candidates) {
    queries++;
    let r = await ask(name);
    if (r.kind === 'answer' && r.response.truncated && retryTcp !== undefined) {
      queries++;
      used = DnsTransport.TCP;
      r = await retryTcp(name);
    }
    if (r.kind === 'timeout') return done(DnsOutcome.TIMEOUT);
    if (r.kind === 'send_error') return done(DnsOutcome.SEND_ERROR);
    const { rcode, answers } = r.response;
    if (rcode === Rcode.NoError && answers > 0) return done(DnsOutcome.NOERROR);
    if (rcode === Rcode.NoError) sawNodata = true;
    else if (rcode === Rcode.ServFail) sawServfail = true;
    else if (rcode === Rcode.Refused) return done(DnsOutcome.REFUSED);
    else if (rcode !== Rcode.NxDomain) return done(DnsOutcome.OTHER_RCODE);
  }
  if (sawServfail) return done(DnsOutcome.SERVFAIL);
  return done(sawNodata ? DnsOutcome.NOERROR : DnsOutcome.NXDOMAIN);
}
