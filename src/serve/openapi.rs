//! The OpenAPI 3 document served at `/openapi.json`.

use serde_json::{json, Value};

fn key_params() -> Value {
    json!([
        {"name": "key", "in": "query", "required": false, "schema": {"type": "string"},
         "description": "API key (or `Authorization: Bearer KEY`)."}
    ])
}

pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err =
        |d: &str| json!({"description": d, "content": {"application/json": {"schema": error}}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "synprint",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Passive TCP/IP fingerprints of the callers of this service, zardaxt-compatible."
        },
        "paths": {
            "/classify": {"get": {
                "summary": "Fingerprint and OS verdict of the calling connection (or, with a key, of another address).",
                "parameters": [
                    {"name": "detail", "in": "query", "schema": {"type": "string"},
                     "description": "1/true/yes (or empty) or 0/false/no, in any case: add the whole record (`fp`) and details."},
                    {"name": "by_ip", "in": "query", "schema": {"type": "string"},
                     "description": "As `detail`'s values: answer with the caller address's newest fingerprint instead of this connection's."},
                    {"name": "ip", "in": "query", "schema": {"type": "string"}, "description": "Address to look up (needs the key)."},
                    {"name": "port", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 65535},
                     "description": "Exact source port to look up (needs the key and `ip`)."},
                    {"name": "key", "in": "query", "schema": {"type": "string"}, "description": "API key."}
                ],
                "responses": {
                    "200": {"description": "The verdict (short, or detailed with `detail=1`); with a key and no `ip`, every stored address.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Classify"}}}},
                    "400": err("A query parameter or forwarded header has a bad value."),
                    "403": err("Wrong API key, or key endpoints disabled."),
                    "405": err("A method other than GET, HEAD and OPTIONS.")
                },
                "security": [{}, {"bearer": []}, {"query_key": []}]
            }},
            "/all": {"get": {"summary": "Every stored address with its fingerprints.", "parameters": key_params(),
                "responses": {"200": {"description": "Map of address to fingerprints: `{\"ADDR\": [{\"count\", \"first_seen\", \"last_seen\", \"fp\"}, ...]}` (also `/classify?key=K` without `ip`)."},
                    "403": err("Wrong or missing API key.")},
                "security": [{"bearer": []}, {"query_key": []}]}},
            "/stats": {"get": {"summary": "Store sizes and counters.", "parameters": key_params(),
                "responses": {"200": {"description": "`numIPs`, `numFingerprints` and more."}, "403": err("Wrong or missing API key.")},
                "security": [{"bearer": []}, {"query_key": []}]}},
            "/healthz": {"get": {"summary": "Liveness, and whether every capture still runs.", "responses": {"200": {"description": "`{\"status\":\"ok\"}`, or `{\"status\":\"link_down\",\"interfaces\":[...]}` while a capture waits for its interface to come back up"}, "503": {"description": "`{\"status\":\"capture_stopped\",\"interfaces\":[...]}`: a capture ended on an error"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "Text exposition format."}}}},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3."}}}}
        },
        "components": {
          "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "The API key as `Authorization: Bearer KEY`."},
            "query_key": {"type": "apiKey", "in": "query", "name": "key"}
          },
          "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Classify": {"type": "object", "properties": {
                "os_mismatch": {"type": "boolean", "nullable": true},
                "lookup_ip": {"type": "string"},
                "lookup_port": {"type": "integer", "nullable": true},
                "avg_score_os_class": {"type": "object", "nullable": true, "properties": {
                    "Windows": {"type": "number"}, "Android": {"type": "number"}, "Mac OS": {"type": "number"},
                    "iOS": {"type": "number"}, "Linux": {"type": "number"}, "Chromium OS": {"type": "number"}}},
                "classification": {"type": "object", "nullable": true},
                "syn_source": {"type": "string", "enum": ["saved_syn", "store"]},
                "fp": {"type": "object", "description": "The whole record (detail=1)."},
                "verdict": {"type": "object", "nullable": true},
                "rtt_ms": {"type": "number", "nullable": true},
                "num_fingerprints": {"type": "integer"},
                "details": {"type": "object"},
                "syn_saved": {"type": "boolean", "nullable": true,
                              "description": "With `msg`: false when the kernel saved no SYN for this connection (SYN cookies)."},
                "msg": {"type": "string", "description": "Why there is no fingerprint."}
            }}
        }}
    })
}
