import { BinaryReader, type WireType } from '@bufbuild/protobuf/wire';

/**
 * A hand decoder for OTLP's ExportTraceServiceRequest (opentelemetry-proto,
 * opentelemetry/proto/collector/trace/v1 and trace/v1), enough to check what netsonar exports:
 * resources, scopes, spans with ids, parents, names, times, attributes and status. Field numbers
 * are the proto's; anything else is skipped. Decoded with protobuf-es's wire reader.
 */

export type AttrValue =
  | string
  | number
  | boolean
  | bigint
  | AttrValue[]
  | { [k: string]: AttrValue }
  | Uint8Array;

export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** "" for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNanos: bigint;
  readonly endNanos: bigint;
  readonly attributes: Record<string, AttrValue>;
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly scope: string;
  readonly resource: Record<string, AttrValue>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Reads the fields of one length-delimited message. */
function fields(bytes: Uint8Array, on: (no: number, wt: WireType, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (!on(no, wt, r)) r.skip(wt, no);
  }
}

/** A field handler for one field number only. */
function only(field: number, read: (r: BinaryReader) => void) {
  return (no: number, _wt: WireType, r: BinaryReader): boolean => {
    if (no !== field) return false;
    read(r);
    return true;
  };
}

function anyValue(bytes: Uint8Array): AttrValue {
  let v: AttrValue = '';
  fields(bytes, (no, _wt, r) => {
    switch (no) {
      case 1:
        v = r.string();
        return true;
      case 2:
        v = r.bool();
        return true;
      case 3: {
        const n = BigInt(r.int64());
        v = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
        return true;
      }
      case 4:
        v = r.double();
        return true;
      case 5: {
        const list: AttrValue[] = [];
        fields(
          r.bytes(),
          only(1, (r2) => list.push(anyValue(r2.bytes()))),
        );
        v = list;
        return true;
      }
      case 6: {
        const obj: Record<string, AttrValue> = {};
        fields(
          r.bytes(),
          only(1, (r2) => keyValue(r2.bytes(), obj)),
        );
        v = obj;
        return true;
      }
      case 7:
        v = r.bytes();
        return true;
      default:
        return false;
    }
  });
  return v;
}

function keyValue(bytes: Uint8Array, into: Record<string, AttrValue>): void {
  let key = '';
  let value: AttrValue = '';
  fields(bytes, (no, _wt, r) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

function attributesOf(bytes: Uint8Array, attrField: number): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  fields(
    bytes,
    only(attrField, (r) => keyValue(r.bytes(), out)),
  );
  return out;
}

function span(bytes: Uint8Array, scope: string, resource: Record<string, AttrValue>): DecodedSpan {
  const s = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    startNanos: 0n,
    endNanos: 0n,
    attributes: {} as Record<string, AttrValue>,
    statusCode: 0,
    statusMessage: '',
    scope,
    resource,
  };
  fields(bytes, (no, _wt, r) => {
    switch (no) {
      case 1:
        s.traceId = hex(r.bytes());
        return true;
      case 2:
        s.spanId = hex(r.bytes());
        return true;
      case 4:
        s.parentSpanId = hex(r.bytes());
        return true;
      case 5:
        s.name = r.string();
        return true;
      case 6:
        s.kind = r.int32();
        return true;
      case 7:
        s.startNanos = BigInt(r.fixed64());
        return true;
      case 8:
        s.endNanos = BigInt(r.fixed64());
        return true;
      case 9:
        keyValue(r.bytes(), s.attributes);
        return true;
      case 15:
        fields(r.bytes(), (n2, _w, r2) => {
          if (n2 === 2) s.statusMessage = r2.string();
          else if (n2 === 3) s.statusCode = r2.int32();
          else return false;
          return true;
        });
        return true;
      default:
        return false;
    }
  });
  return s;
}

/** Every span of an ExportTraceServiceRequest, each with its resource's and scope's names. */
export function decodeExportTraceServiceRequest(bytes: Uint8Array): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  fields(bytes, (no, _wt, r) => {
    if (no !== 1) return false;
    const rsBytes = r.bytes();
    let resource: Record<string, AttrValue> = {};
    const scopeSpans: Uint8Array[] = [];
    fields(rsBytes, (n2, _w, r2) => {
      if (n2 === 1) resource = attributesOf(r2.bytes(), 1);
      else if (n2 === 2) scopeSpans.push(r2.bytes());
      else return false;
      return true;
    });
    for (const ss of scopeSpans) {
      let scope = '';
      const spans: Uint8Array[] = [];
      fields(ss, (n3, _w, r3) => {
        if (n3 === 1) {
          fields(
            r3.bytes(),
            only(1, (r4) => {
              scope = r4.string();
            }),
          );
        } else if (n3 === 2) spans.push(r3.bytes());
        else return false;
        return true;
      });
      for (const sp of spans) out.push(span(sp, scope, resource));
    }
    return true;
  });
  return out;
}
