//! The OpenAPI 3 document served at `/openapi.json`: every path with the
//! methods, parameters, statuses, headers and body shapes the server
//! really uses (`tests/serve_openapi.rs` holds real answers against it).

use serde_json::{json, Value};

use crate::classify::{Family, Os};

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn header(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// A JSON body of schema `name`, with the headers every JSON answer has.
fn json_body(description: &str, name: &str, public: bool) -> Value {
    let mut headers = json!({"Cache-Control": header("NoStore")});
    if public {
        headers["Access-Control-Allow-Origin"] = header("AnyOrigin");
    }
    json!({
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": schema(name)}}
    })
}

/// An endpoint's GET, HEAD (the same answers without a body) and OPTIONS.
/// Every request may get 400 (an HTTP/1.1 request needs exactly one
/// `Host`); other methods get 405, which OpenAPI has no place for but the
/// path's description.
fn endpoint(mut get: Value, public: bool) -> Value {
    let host_error = json_body(
        "An HTTP/1.1 request without exactly one `Host` header.",
        "Error",
        public,
    );
    if get["responses"].get("400").is_none() {
        get["responses"]["400"] = host_error.clone();
    }
    let mut head = get.clone();
    if let Some(responses) = head["responses"].as_object_mut() {
        for r in responses.values_mut().filter_map(Value::as_object_mut) {
            r.remove("content");
        }
    }
    head["summary"] = json!("As GET, without the body.");
    let mut options_headers = json!({"Allow": header("Allow")});
    if public {
        options_headers["Access-Control-Allow-Origin"] = header("AnyOrigin");
        options_headers["Access-Control-Allow-Methods"] = header("Allow");
        options_headers["Access-Control-Allow-Headers"] = header("AllowHeaders");
    }
    json!({
        "description": "Other methods get 405 with `Allow: GET, HEAD, OPTIONS` and an `Error` body (400 for an HTTP/1.1 request without exactly one `Host` header, whatever its method).",
        "get": get,
        "head": head,
        "options": {
            "summary": "The methods allowed (a CORS preflight on the public endpoints).",
            "security": [{}],
            "responses": {
                "204": {"description": "No body.", "headers": options_headers},
                "400": host_error
            }
        }
    })
}

/// An object with exactly these properties, none of them optional (those
/// marked `nullable` may be `null`).
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties,
           "additionalProperties": false})
}

/// An object with one property of schema `each` per name.
fn object_of(names: &[&'static str], each: &Value) -> Value {
    let properties = names.iter().map(|n| (n.to_string(), each.clone()));
    object(names, Value::Object(properties.collect()))
}

/// An `enum` of `names` that allows `null` too: OpenAPI 3.0's `nullable`
/// does not widen an `enum`.
fn with_null(names: &[&str]) -> Value {
    let mut all: Vec<Value> = names.iter().map(|&n| Value::from(n)).collect();
    all.push(Value::Null);
    Value::Array(all)
}

fn int(min: u64, max: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn nullable_int(min: u64, max: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "nullable": true})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn nullable_string() -> Value {
    json!({"type": "string", "nullable": true})
}

fn schemas() -> Value {
    let (count, string, nullable_string) = (count(), string(), nullable_string());
    let probability = json!({"type": "number", "minimum": 0, "maximum": 1});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let os_names = Os::ALL.map(Os::name);
    let family_names = Family::ALL.map(Family::name);
    let store_counts = [
        "ips",
        "fingerprints",
        "connections",
        "inserted",
        "evicted_ips",
        "evicted_fingerprints",
        "evicted_connections",
        "expired",
        "same_syn_again",
    ];
    let mut zardaxt_scores = object_of(&super::os_view::ZARDAXT_CLASSES, &probability);
    zardaxt_scores["nullable"] = json!(true);
    zardaxt_scores["description"] =
        json!("zardaxt's per-class scores, from synprint's classification.");
    json!({
        "Error": object(&["error"], json!({"error": string})),
        "Classification": object(
            &["os", "family", "confidence", "scores", "family_scores", "evidence"],
            json!({
                "os": {"type": "string", "enum": os_names},
                "family": {"type": "string", "enum": family_names},
                "confidence": probability,
                "scores": object_of(&os_names, &probability),
                "family_scores": object_of(&family_names, &probability),
                "evidence": strings
            })
        ),
        "Verdict": object(
            &["ua_os", "ua_family", "ua_crawler", "os_mismatch", "tunnel_suspected", "embedded_suspected", "middlebox_suspected", "mtu_link", "hops", "reasons"],
            json!({
                "ua_os": {"type": "string", "enum": with_null(&os_names), "nullable": true},
                "ua_family": {"type": "string", "enum": with_null(&family_names), "nullable": true},
                "ua_crawler": {"type": "boolean"},
                "os_mismatch": {"type": "boolean", "nullable": true},
                "tunnel_suspected": {"type": "boolean"},
                "embedded_suspected": {"type": "boolean"},
                "middlebox_suspected": {"type": "boolean"},
                "mtu_link": nullable_string,
                "hops": int(0, 255),
                "reasons": strings
            })
        ),
        "Record": record(),
        "Answer": {
            "type": "object",
            "description": "The fingerprint's verdict; with `detail=1` also `verdict`, `rtt_ms`, `num_fingerprints`, the whole record (`fp`) and zardaxt's `details`.",
            "required": ["os_mismatch", "embedded_suspected", "middlebox_suspected", "lookup_ip",
                         "lookup_port", "kind", "avg_score_os_class", "perfect_score",
                         "classification", "syn_source"],
            "additionalProperties": false,
            "properties": {
                "os_mismatch": {"type": "boolean", "nullable": true,
                    "description": "The TCP stack's family contradicts the request's User-Agent; null when either is unknown."},
                "embedded_suspected": {"type": "boolean",
                    "description": "The TCP stack is an embedded device's (router, modem, IoT) while the User-Agent names a browser's OS, whatever the family says."},
                "middlebox_suspected": {"type": "boolean",
                    "description": "A proxy, load balancer or other network device built the SYN (initial TTL 255, fields of no client stack): nothing of the client's own stack is seen, and os_mismatch is null."},
                "lookup_ip": string,
                "lookup_port": int(0, 65535),
                "kind": {"type": "string", "enum": ["syn", "syn_ack"],
                    "description": "`syn_ack` where the address was seen only answering as a server: the scores are its server stack's, and os_mismatch is null."},
                "avg_score_os_class": zardaxt_scores,
                "perfect_score": {"type": "number", "enum": [1.0],
                    "description": "zardaxt's scale of avg_score_os_class: synprint's are probabilities."},
                // OpenAPI 3.0's `nullable` widens only a `type` beside it, so null
                // is a branch of its own.
                "classification": {"anyOf": [
                    schema("Classification"),
                    {"type": "object", "nullable": true, "enum": [null]}
                ]},
                "syn_source": {"type": "string", "enum": ["saved_syn", "store"]},
                "verdict": schema("Verdict"),
                "rtt_ms": {"type": "number", "nullable": true,
                    "description": "The connection's smoothed RTT from TCP_INFO (own listener only)."},
                "num_fingerprints": count,
                "fp": schema("Record"),
                "details": object(
                    &["os_highest_class", "highest_os_avg", "perfect_score", "num_fingerprints",
                      "num_syns", "lookup_ip", "client_ip", "os_mismatch", "syn_source", "rtt_ms"],
                    json!({
                        "os_highest_class": nullable_string,
                        "highest_os_avg": {"type": "number", "nullable": true},
                        "perfect_score": {"type": "number"},
                        "num_fingerprints": count, "num_syns": count,
                        "lookup_ip": string, "client_ip": string,
                        "os_mismatch": {"type": "boolean", "nullable": true},
                        "syn_source": {"type": "string", "enum": ["saved_syn", "store"]},
                        "rtt_ms": {"type": "number", "nullable": true}
                    })
                )
            }
        },
        "NoFingerprint": {
            "type": "object",
            "description": "Nothing known of the connection or address, and why (`msg`).",
            "required": ["os_mismatch", "lookup_ip", "msg"],
            "additionalProperties": false,
            "properties": {
                "os_mismatch": {"type": "boolean", "nullable": true, "enum": [null]},
                "lookup_ip": string,
                "lookup_port": int(0, 65535),
                "syn_saved": {"type": "boolean",
                    "description": "false: the kernel saved no SYN for this connection (SYN cookies)."},
                "msg": string
            }
        },
        "Listing": {
            "type": "object",
            "description": "zardaxt's listing: each stored address with its fingerprints, newest first.",
            "additionalProperties": {"type": "array", "items": object(
                &["count", "first_seen", "last_seen", "fp"],
                json!({"count": {"type": "integer", "minimum": 1},
                       "first_seen": {"type": "number"}, "last_seen": {"type": "number"},
                       "fp": schema("Record")})
            )}
        },
        "Stats": object(
            &["numIPs", "numFingerprints", "numConnections", "store", "listener_syns",
              "listener_no_saved_syn", "kernel_drops"],
            json!({
                "numIPs": count, "numFingerprints": count, "numConnections": count,
                "store": object_of(&store_counts, &count),
                "listener_syns": count, "listener_no_saved_syn": count, "kernel_drops": count
            })
        ),
        "Health": {
            "type": "object", "required": ["status"], "additionalProperties": false,
            "properties": {
                "status": {"type": "string", "enum": ["ok", "link_down", "capture_stopped"]},
                "interfaces": strings
            }
        }
    })
}

/// The record `synprint analyze --format jsonl` writes, and `fp` holds.
fn record() -> Value {
    let (count, string, nullable_string) = (count(), string(), nullable_string());
    let u32_max = u64::from(u32::MAX);
    let p0f = object(
        &["raw_sig", "os", "dist", "generic", "fuzzy"],
        json!({"raw_sig": string, "os": nullable_string, "dist": int(0, 255),
               "generic": {"type": "boolean"}, "fuzzy": {"type": "boolean"}}),
    );
    let mut mtu = object(
        &["raw_mtu", "link"],
        json!({"raw_mtu": count, "link": nullable_string}),
    );
    mtu["nullable"] = json!(true);
    let uptime = object(
        &[
            "uptime_min",
            "days",
            "hours",
            "minutes",
            "modulo_days",
            "freq_hz",
            "raw_freq_hz",
        ],
        json!({"uptime_min": count, "days": count, "hours": count, "minutes": count,
               "modulo_days": count, "freq_hz": {"type": "number"}, "raw_freq_hz": {"type": "number"}}),
    );
    let tunnel = object(
        &["type", "id", "outer_src_ip", "outer_dst_ip"],
        json!({"type": {"type": "string", "enum": crate::packet::TunnelKind::ALL.map(|k| k.as_str())},
               "id": nullable_int(0, u32_max), "outer_src_ip": string, "outer_dst_ip": string}),
    );
    let ip = json!({
        "ip_version": {"type": "integer", "enum": [4, 6]},
        "ip_ttl": int(0, 255),
        "ip_df": nullable_int(0, 1), "ip_mf": nullable_int(0, 1),
        "ip_id": nullable_int(0, 65535),
        "ip_tos": int(0, 255),
        "ip_total_length": int(0, 65575),
        "ip_hdr_length": int(0, 15),
        "ip_flow_label": nullable_int(0, 0xF_FFFF)
    });
    let tcp = json!({
        "tcp_window_size": int(0, 65535),
        "tcp_flags": int(0, 0xFFF),
        "tcp_off": int(0, 15),
        "tcp_urp": int(0, 65535),
        "tcp_ack": int(0, u32_max),
        "tcp_seq": int(0, u32_max),
        "tcp_options": string,
        "tcp_options_kinds": {"type": "array", "items": int(0, 255)},
        "tcp_mss": nullable_int(0, 65535),
        "tcp_window_scaling": nullable_int(0, 255),
        "tcp_timestamp": nullable_int(0, u32_max),
        "tcp_timestamp_echo_reply": nullable_int(0, u32_max)
    });
    let mut properties = json!({
        "kind": {"type": "string", "enum": ["syn", "syn_ack"]},
        "ts": {"type": "number"},
        "src_ip": string, "src_port": int(0, 65535),
        "dst_ip": string, "dst_port": int(0, 65535),
        "tunnel": tunnel,
        "p0f": p0f,
        "mtu": mtu,
        "uptime": uptime,
        "ja4t": {"type": "string", "description": "JA4T (FoxIO License 1.1), on SYNs."},
        "ja4ts": {"type": "string", "description": "JA4TS (FoxIO License 1.1), on SYN+ACKs."},
        "classification": schema("Classification"),
        "verdict": schema("Verdict")
    });
    let mut required: Vec<String> = ["kind", "ts", "src_ip", "src_port", "dst_ip", "dst_port"]
        .map(String::from)
        .to_vec();
    for fields in [ip, tcp] {
        if let (Value::Object(fields), Some(all)) = (fields, properties.as_object_mut()) {
            required.extend(fields.keys().cloned());
            all.extend(fields);
        }
    }
    required.extend(["p0f", "mtu"].map(String::from));
    json!({
        "type": "object",
        "description": "One SYN or SYN+ACK, exactly as `synprint analyze --format jsonl` writes it (README: The record format). Fields may be added, never renamed or removed.",
        "required": required,
        "properties": properties
    })
}

pub fn document() -> Value {
    // Lenient as the server is: surrounding ASCII white space is trimmed
    // (from every query value), the words are read in any case.
    let flag = |what: &str| {
        json!({"type": "string",
               "pattern": "^[ \\t\\n\\f\\r]*(|1|0|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo])[ \\t\\n\\f\\r]*$",
               "description": what})
    };
    let bad_request = "A query parameter or a trusted proxy's forwarded header has a bad value, `port` came without `ip`, or an HTTP/1.1 request lacks exactly one `Host` header.";
    let forbidden = |public: bool| {
        json_body(
            "Wrong API key, a key endpoint without one, or no key configured (key endpoints off).",
            "Error",
            public,
        )
    };
    let mut classify_params = json!([
        {"$ref": "#/components/parameters/detail"},
        {"$ref": "#/components/parameters/by_ip"},
        {"$ref": "#/components/parameters/ip"},
        {"$ref": "#/components/parameters/port"}
    ]);
    if let Some(list) = classify_params.as_array_mut() {
        for h in ["user_agent", "x_real_ip", "x_forwarded_for", "x_real_port"] {
            list.push(json!({"$ref": format!("#/components/parameters/{h}")}));
        }
    }
    let classify = json!({
        "summary": "The calling connection's fingerprint and OS verdict; with the key, another address's or connection's (`ip`, `port`), or with `key` and no `ip` every stored address.",
        "parameters": classify_params,
        "responses": {
            "200": {
                "description": "The verdict (`Answer`), nothing known (`NoFingerprint`), or with `key` and no `ip` the listing (`Listing`).",
                "headers": {"Cache-Control": header("NoStore"), "Access-Control-Allow-Origin": header("AnyOrigin")},
                "content": {"application/json": {"schema": {"anyOf": [
                    schema("Answer"), schema("NoFingerprint"), schema("Listing")
                ]}}}
            },
            "400": json_body(bad_request, "Error", true),
            "403": forbidden(true)
        },
        "security": [{}, {"bearer": []}, {"query_key": []}]
    });
    // The key endpoints take no parameter but the key; `/classify`'s are
    // checked there too, so that a mistyped query is not silently ignored.
    let keyed = |summary: &str, ok: Value| {
        json!({
            "summary": summary,
            "responses": {
                "200": ok,
                "400": json_body(
                    "A value of one of `/classify`'s query parameters, checked here too, is bad, or an HTTP/1.1 request lacks exactly one `Host` header.",
                    "Error",
                    false,
                ),
                "403": forbidden(false)
            },
            "security": [{"bearer": []}, {"query_key": []}]
        })
    };
    let all = keyed(
        "Every stored address with its fingerprints (streamed).",
        json_body("zardaxt's listing.", "Listing", false),
    );
    let stats = keyed(
        "Store sizes and counters.",
        json_body("Sizes and counters.", "Stats", false),
    );
    let healthz = json!({
        "summary": "Liveness, and whether every capture still runs.",
        "security": [{}],
        "responses": {
            "200": json_body("`ok`, or `link_down` with the interfaces a capture waits for.", "Health", true),
            "503": json_body("`capture_stopped`: a capture ended on an error.", "Health", true)
        }
    });
    let metrics = json!({
        "summary": "Prometheus metrics.",
        "security": [{}],
        "responses": {"200": {"description": "Prometheus' text exposition format.",
            "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}}
    });
    let openapi = json!({
        "summary": "This document.",
        "security": [{}],
        "responses": {"200": {"description": "OpenAPI 3.0.",
            "headers": {"Access-Control-Allow-Origin": header("AnyOrigin")},
            "content": {"application/json": {"schema": {"type": "object"}}}}}
    });
    let paths = json!({
        "/classify": endpoint(classify, true),
        "/all": endpoint(all, false),
        "/stats": endpoint(stats, false),
        "/healthz": endpoint(healthz, true),
        "/metrics": endpoint(metrics, false),
        "/openapi.json": endpoint(openapi, true)
    });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "synprint",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Passive TCP/IP fingerprints of the callers of this service, zardaxt-compatible. Parameters of other names are ignored; a parameter given twice counts with its last value. Requests the HTTP layer refuses before synprint reads them (a malformed request line, a URL or head over the limits) get 400, 414 or 431 with an empty body."
        },
        "paths": paths,
        "components": {
            "parameters": {
                "detail": {"name": "detail", "in": "query", "schema": flag(
                    "1/true/yes (or empty) or 0/false/no, in any case: add the whole record (`fp`) and details.")},
                "by_ip": {"name": "by_ip", "in": "query", "schema": flag(
                    "As `detail`: answer with the caller address's newest fingerprint instead of this connection's.")},
                "ip": {"name": "ip", "in": "query",
                       "description": "Address to look up (needs the key), without a zone; surrounding ASCII white space is ignored. IPv4-mapped IPv6 addresses are read as IPv4.",
                       "schema": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}},
                "port": {"name": "port", "in": "query",
                         "description": "Exact source port to look up (needs the key and `ip`: without `ip` it is a 400, a rule OpenAPI 3.0 cannot write).",
                         "schema": {"type": "integer", "minimum": 0, "maximum": 65535}},
                "user_agent": {"name": "User-Agent", "in": "header", "schema": {"type": "string"},
                               "description": "The OS the client claims, judged by `os_mismatch`."},
                "x_real_ip": {"name": "X-Real-IP", "in": "header",
                              "schema": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
                              "description": "The visitor's address, believed from trusted proxies only (`--trusted-proxy`, loopback by default); the header's name is `--real-ip-header`."},
                "x_forwarded_for": {"name": "X-Forwarded-For", "in": "header", "schema": {"type": "string"},
                                    "description": "With `--real-ip-header X-Forwarded-For`: the address its trusted proxies added last, over every line."},
                "x_real_port": {"name": "X-Real-Port", "in": "header",
                                "schema": {"type": "string", "pattern": "^[ \\t]*[0-9]*[ \\t]*$"},
                                "description": "The visitor's source port (0 to 65535) from a trusted proxy, for the exact connection's SYN; empty counts as not sent. Read only beside the address header (`X-Real-IP`, or `X-Forwarded-For` without a port), ignored without it."}
            },
            "headers": {
                "NoStore": {"schema": {"type": "string", "enum": ["no-store"]}},
                "AnyOrigin": {"schema": {"type": "string", "enum": ["*"]}},
                "Allow": {"schema": {"type": "string", "enum": ["GET, HEAD, OPTIONS"]}},
                "AllowHeaders": {"schema": {"type": "string", "enum": ["Authorization"]}}
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The API key as `Authorization: Bearer KEY`."},
                "query_key": {"type": "apiKey", "in": "query", "name": "key",
                              "description": "The API key as `?key=KEY` (checked over a Bearer key when both are sent)."}
            },
            "schemas": schemas()
        }
    })
}
