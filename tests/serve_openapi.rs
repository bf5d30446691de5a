//! `/openapi.json` against the server that serves it: every answer of a
//! varied session (each endpoint and method, found and missing, keyed and
//! not, good and bad input, IPv4 and IPv6) must be one the document lists
//! for its path and method, with the listed content type, headers and a
//! body its schema accepts; and what the document says of the parameters
//! holds at the server.

mod serve_common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use serde_json::Value;
use serve_common::{connect, get, loopback_config, request_on, Reply, SynShape, TestServer};
use synprint::analyze::Record;
use synprint::serve::{installed_classifier, ApiKey, OsClassifier, OsView, ServeConfig};

const KEY: &str = "openapi-test-key";
const WINDOWS_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36";

/// The document, and which operations' answers were checked.
struct Spec {
    doc: Value,
    seen: BTreeSet<(String, String)>,
}

impl Spec {
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("a local reference");
                let target = self.doc.pointer(pointer);
                self.resolve(target.unwrap_or_else(|| panic!("{r} names nothing")))
            }
            None => v,
        }
    }

    /// `method` on `path` (the document's path) answered `reply`.
    fn check(&mut self, method: &str, path: &str, reply: &Reply) {
        let what = format!("{method} {path} -> {}", reply.status);
        let item = &self.doc["paths"][path];
        assert!(item.is_object(), "{what}: path not in the document");
        let op = &item[method.to_ascii_lowercase()];
        if op.is_null() {
            // The methods the document has no operation for: its path
            // description promises 405 with Allow and an Error body, or
            // 400 without one Host.
            let description = item["description"].as_str().unwrap_or_default();
            match reply.status {
                405 => {
                    assert!(description.contains("405"), "{what}");
                    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"), "{what}");
                }
                400 => assert!(description.contains("400"), "{what}"),
                _ => panic!("{what}: not what the path's description says"),
            }
            let schema = serde_json::json!({"$ref": "#/components/schemas/Error"});
            self.body(&what, &schema, reply);
            return;
        }
        self.seen.insert((method.into(), path.into()));
        let response = &op["responses"][reply.status.to_string()];
        assert!(
            response.is_object(),
            "{what}: status not in the document; body {}",
            String::from_utf8_lossy(&reply.body)
        );
        let response = self.resolve(response);
        if let Some(headers) = response["headers"].as_object() {
            for (name, h) in headers {
                let value = reply
                    .header(name)
                    .unwrap_or_else(|| panic!("{what}: header {name} missing"));
                let schema = &self.resolve(h)["schema"];
                self.valid(schema, &Value::from(value))
                    .unwrap_or_else(|e| panic!("{what}: header {name}: {e}"));
            }
        }
        match response["content"].as_object() {
            // A HEAD's or 204's body is not read here: the next request on
            // the connection would trip on it (see the caller).
            None => assert!(reply.body.is_empty(), "{what}: a body where none is listed"),
            Some(content) => {
                let (media, schema) = content.iter().next().expect("one media type");
                assert_eq!(reply.header("content-type"), Some(media.as_str()), "{what}");
                if media == "application/json" {
                    self.body(&what, &schema["schema"], reply);
                }
            }
        }
    }

    fn body(&self, what: &str, schema: &Value, reply: &Reply) {
        let body: Value = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
        self.valid(schema, &body)
            .unwrap_or_else(|e| panic!("{what}: {e}\nbody: {body}"));
    }

    /// The part of JSON Schema (OpenAPI 3.0's dialect) the document uses;
    /// a keyword outside it fails, so that nothing goes unchecked.
    fn valid(&self, schema: &Value, v: &Value) -> Result<(), String> {
        const KNOWN: [&str; 15] = [
            "$ref",
            "type",
            "nullable",
            "enum",
            "format",
            "pattern",
            "minimum",
            "maximum",
            "required",
            "properties",
            "additionalProperties",
            "items",
            "allOf",
            "anyOf",
            "description",
        ];
        let schema = self.resolve(schema);
        if let Some(unknown) = schema
            .as_object()
            .and_then(|o| o.keys().find(|k| !KNOWN.contains(&k.as_str())))
        {
            return Err(format!("keyword {unknown} unknown to this check"));
        }
        for s in schema["allOf"].as_array().into_iter().flatten() {
            self.valid(s, v)?;
        }
        if let Some(any) = schema["anyOf"].as_array() {
            let errors: Vec<String> = any.iter().filter_map(|s| self.valid(s, v).err()).collect();
            if errors.len() == any.len() {
                return Err(format!("{v} matches no schema of anyOf: {errors:?}"));
            }
        }
        // OpenAPI 3.0.3: `nullable` lets null past the `type` beside it,
        // and nothing else (an `enum` must still list null).
        if let Some(t) = schema["type"].as_str().filter(|_| !v.is_null()) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_u64() || v.is_i64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                other => return Err(format!("type {other} unknown to this check")),
            };
            if !ok {
                return Err(format!("{v} is not of type {t}"));
            }
        } else if v.is_null() && schema["type"].is_string() && schema["nullable"] != true {
            return Err("null where the schema is not nullable".into());
        }
        if let Some(values) = schema["enum"].as_array() {
            if !values.contains(v) {
                return Err(format!("{v} is not one of {values:?}"));
            }
        }
        if let (Some(p), Some(text)) = (schema["pattern"].as_str(), v.as_str()) {
            let re = regex::Regex::new(p).map_err(|e| format!("pattern {p}: {e}"))?;
            if !re.is_match(text) {
                return Err(format!("{text:?} does not match {p}"));
            }
        }
        match (schema["format"].as_str(), v.as_str()) {
            (Some("ipv4"), Some(s)) if s.parse::<std::net::Ipv4Addr>().is_err() => {
                return Err(format!("{s} is not IPv4"))
            }
            (Some("ipv6"), Some(s)) if s.parse::<std::net::Ipv6Addr>().is_err() => {
                return Err(format!("{s} is not IPv6"))
            }
            _ => {}
        }
        if let Some(n) = v.as_f64() {
            if schema["minimum"].as_f64().is_some_and(|m| n < m)
                || schema["maximum"].as_f64().is_some_and(|m| n > m)
            {
                return Err(format!("{n} is out of range in {schema}"));
            }
        }
        if let Some(object) = v.as_object() {
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("a name");
                if !object.contains_key(name) {
                    return Err(format!("{name} missing"));
                }
            }
            for (name, value) in object {
                let declared = &schema["properties"][name];
                let result = match (declared, &schema["additionalProperties"]) {
                    (d, _) if !d.is_null() => self.valid(d, value),
                    (_, Value::Bool(false)) => Err("not in the schema".into()),
                    (_, extra) if extra.is_object() => self.valid(extra, value),
                    _ => Ok(()),
                };
                result.map_err(|e| format!("{name}: {e}"))?;
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), v.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.valid(items, item).map_err(|e| format!("[{i}]: {e}"))?;
            }
        }
        Ok(())
    }
}

/// `method path` on a fresh connection to `a`, with `headers` as given
/// (`Host` included, or not).
fn ask(a: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = connect(a, SynShape::default());
    request_on(&mut s, method, path, headers)
}

#[test]
fn every_answer_is_one_the_document_lists() {
    let config = ServeConfig {
        api_key: ApiKey::new(KEY.into()),
        ..loopback_config()
    };
    let srv = TestServer::start_with(config, installed_classifier(), Vec::new());
    let (v4, v6) = (srv.addr(false), srv.addr(true));
    let doc = get(v4, "/openapi.json", &[]).json();
    let mut spec = Spec {
        doc,
        seen: BTreeSet::new(),
    };
    let keyed = |q: &str| format!("{q}{}key={KEY}", if q.contains('?') { '&' } else { '?' });
    let host = ("Host", "t");

    // The calling connection, short and detailed, with and without a
    // User-Agent, over both families (IPv6 records have a flow label and
    // no IP ID); then lookups of stored ones, a miss, the listing.
    for (a, path, ua) in [
        (v4, "/classify", None),
        (v4, "/classify?detail=1", Some(WINDOWS_UA)),
        (v6, "/classify?detail=1", Some(WINDOWS_UA)),
        (v6, "/classify?detail=1", None),
        (v4, "/classify?by_ip=1&detail=yes", Some("curl/8.0")),
        (
            v4,
            &keyed("/classify?ip=127.0.0.1&detail=1"),
            Some(WINDOWS_UA),
        ),
        (v4, &keyed("/classify?ip=::1"), None),
        (v4, &keyed("/classify?ip=192.0.2.7"), None),
        (v4, &keyed("/classify?ip=192.0.2.7&port=443"), None),
        (v6, &keyed("/classify"), None),
    ] {
        let mut headers = vec![host];
        headers.extend(ua.map(|ua| ("User-Agent", ua)));
        let reply = ask(a, "GET", path, &headers);
        assert_eq!(reply.status, 200, "{path}");
        spec.check("GET", "/classify", &reply);
    }
    // A trusted proxy (loopback) forwarding a visitor synprint never saw,
    // and forwarding nonsense.
    let r = ask(
        v4,
        "GET",
        "/classify",
        &[host, ("X-Real-IP", "198.51.100.4")],
    );
    assert_eq!(
        r.json()["msg"]
            .as_str()
            .map(|m| m.starts_with("no fingerprint")),
        Some(true)
    );
    spec.check("GET", "/classify", &r);
    let r = ask(
        v4,
        "GET",
        "/classify",
        &[host, ("X-Real-IP", "not-an-address")],
    );
    assert_eq!(r.status, 400);
    spec.check("GET", "/classify", &r);

    // Keyed endpoints: right key both ways, wrong key, none, bad queries.
    let bearer = format!("Bearer {KEY}");
    for (path, headers, status) in [
        (keyed("/all"), vec![host], 200),
        (
            "/stats".to_string(),
            vec![host, ("Authorization", bearer.as_str())],
            200,
        ),
        ("/all".to_string(), vec![host], 403),
        ("/stats?key=wrong".to_string(), vec![host], 403),
        (keyed("/all?detail=2"), vec![host], 400),
        (keyed("/stats?ip=nope"), vec![host], 400),
        // `port` without `ip` names no connection, wherever it is read.
        (keyed("/all?port=80"), vec![host], 400),
        (keyed("/stats?port=80"), vec![host], 400),
        (keyed("/classify?port=80"), vec![host], 400),
        ("/classify?detail=maybe".to_string(), vec![host], 400),
        ("/classify?ip=127.0.0.1".to_string(), vec![host], 403),
    ] {
        let reply = ask(v4, "GET", &path, &headers);
        assert_eq!(reply.status, status, "{path}");
        let doc_path = path.split('?').next().expect("a path");
        spec.check("GET", doc_path, &reply);
    }

    // Every path: GET, HEAD, OPTIONS, a method not allowed, and an
    // HTTP/1.1 request without Host.
    let paths = [
        "/classify",
        "/all",
        "/stats",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ];
    for path in paths {
        let target = if matches!(path, "/all" | "/stats") {
            keyed(path)
        } else {
            path.to_string()
        };
        for method in ["GET", "HEAD", "OPTIONS", "DELETE", "POST"] {
            // Kept alive and asked again: bytes of a body after a HEAD or
            // a 204 would be read as the next answer's head.
            let mut s = connect(v4, SynShape::default());
            let reply = request_on(&mut s, method, &target, &[host]);
            spec.check(method, path, &reply);
            let next = request_on(&mut s, "GET", "/healthz", &[host]);
            assert_eq!(next.status, 200, "after {method} {path}");
        }
        for method in ["GET", "OPTIONS", "DELETE"] {
            let reply = ask(v4, method, &target, &[("Connection", "close")]);
            assert_eq!(reply.status, 400, "{method} {path} without Host");
            spec.check(method, path, &reply);
        }
    }

    // Not vacuous: every operation the document has was answered.
    for path in paths {
        for method in ["GET", "HEAD", "OPTIONS"] {
            assert!(
                spec.seen.contains(&(method.to_string(), path.to_string())),
                "{method} {path} never checked"
            );
        }
    }
}

/// A classifier that gives no view: answers without `classification` or
/// zardaxt's scores (null in the document's words).
struct Silent;

impl OsClassifier for Silent {
    fn view(&self, _: &Record, _: Option<&str>) -> Option<OsView> {
        None
    }
}

#[test]
fn answers_without_a_classification_are_ones_the_document_lists() {
    let srv = TestServer::start_with(loopback_config(), Arc::new(Silent), Vec::new());
    let a = srv.addr(false);
    let mut spec = Spec {
        doc: get(a, "/openapi.json", &[]).json(),
        seen: BTreeSet::new(),
    };
    for path in ["/classify", "/classify?detail=1"] {
        let reply = get(a, path, &[("User-Agent", WINDOWS_UA)]);
        let j = reply.json();
        assert!(j["classification"].is_null(), "{j}");
        assert!(j["avg_score_os_class"].is_null(), "{j}");
        spec.check("GET", "/classify", &reply);
    }
}

/// Every byte but letters and digits as `%XX`.
fn percent_encoded(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the document says of the query parameters and forwarded headers
/// holds at the server: a value its pattern or format takes is taken, and
/// one it refuses is refused, but for what a pattern cannot say (a port's
/// range, the server's to check; the ASCII white space the server trims
/// from around an address, which the description says).
#[test]
fn parameter_schemas_say_what_the_server_accepts() {
    let config = ServeConfig {
        api_key: ApiKey::new(KEY.into()),
        ..loopback_config()
    };
    let srv = TestServer::start(config);
    let a = srv.addr(false);
    let doc = get(a, "/openapi.json", &[]).json();
    let parameter = |name: &str| doc["components"]["parameters"][name]["schema"].clone();
    let pattern = |name: &str| {
        let p = parameter(name)["pattern"]
            .as_str()
            .expect("a pattern")
            .to_string();
        regex::Regex::new(&p).expect("the pattern compiles")
    };
    let flag = pattern("detail");
    assert_eq!(flag.as_str(), pattern("by_ip").as_str());
    // White space of other kinds than ASCII's (NEL, no-break space, the
    // byte-order mark) is a value, not padding: regex engines disagree
    // on what `\s` spans, so neither the pattern nor the server trims it.
    for value in [
        "",
        "1",
        "0",
        "true",
        "TRUE",
        "False",
        "yes",
        "No",
        " yes ",
        "\t1\n",
        "\u{c}0\r",
        "2",
        "t",
        "on",
        "yess",
        "1 1",
        "\u{85}1",
        "\u{a0}1",
        "\u{feff}1",
    ] {
        let reply = get(
            a,
            &format!("/classify?detail={}", percent_encoded(value)),
            &[],
        );
        let accepted = reply.status == 200;
        assert_eq!(
            flag.is_match(value),
            accepted,
            "detail={value:?}: {}",
            reply.status
        );
    }
    let formats = parameter("ip")["anyOf"].clone();
    let formats: Vec<&str> = formats
        .as_array()
        .expect("formats")
        .iter()
        .filter_map(|f| f["format"].as_str())
        .collect();
    assert_eq!(formats, ["ipv4", "ipv6"]);
    for value in [
        "127.0.0.1",
        " ::1\t",
        "::ffff:127.0.0.1",
        "2001:db8::1",
        "127.1",
        "300.1.1.1",
        "fe80::1%lo",
        "x",
        "\u{a0}127.0.0.1",
    ] {
        let path = format!("/classify?key={KEY}&ip={}", percent_encoded(value));
        let accepted = get(a, &path, &[]).status == 200;
        let trimmed = value.trim_matches(|c: char| c.is_ascii_whitespace());
        let formats_take =
            trimmed.parse::<Ipv4Addr>().is_ok() || trimmed.parse::<Ipv6Addr>().is_ok();
        assert_eq!(formats_take, accepted, "ip={value:?}");
    }
    // A port as a client following the schema writes it (an integer), in
    // range and out of it.
    let port = parameter("port");
    let in_schema = |n: i64| {
        (port["minimum"].as_i64().expect("minimum")..=port["maximum"].as_i64().expect("maximum"))
            .contains(&n)
    };
    for n in [-1, 0, 80, 65535, 65536, 1 << 32] {
        let path = format!("/classify?key={KEY}&ip=127.0.0.1&port={n}");
        let accepted = get(a, &path, &[]).status == 200;
        assert_eq!(in_schema(n), accepted, "port={n}");
    }
    let real_port = pattern("x_real_port");
    for value in [
        "", "443", " 443 ", "000443", "65535", "65536", "-1", "+80", "4x", "123456",
    ] {
        let reply = get(
            a,
            "/classify",
            &[("X-Real-IP", "127.0.0.1"), ("X-Real-Port", value)],
        );
        let accepted = reply.status == 200;
        let digits = value.trim();
        let in_range = digits.is_empty() || digits.parse::<u32>().is_ok_and(|p| p <= 65535);
        assert_eq!(
            real_port.is_match(value) && in_range,
            accepted,
            "X-Real-Port {value:?}: {}",
            reply.status
        );
    }
}
