//! What travels through Redis: the task message a coordinator adds to a
//! task's stream, the result a worker pushes back, and the key names.
//!
//! Every field is a binary-safe Redis string; context entries (names and
//! bytes) are packed as `u32` little-endian lengths followed by the bytes.

use crate::error::{Error, Result};
use redis::Value;

/// The consumer group every worker of a queue reads task streams with.
pub(crate) const GROUP: &str = "dorch-workers";
/// How long result, delivery and cancel keys live (seconds).
pub(crate) const KEY_TTL_SECS: i64 = 3600;

/// The stream holding tasks named `task` of `queue`.
pub(crate) fn stream_key(queue: &str, task: &str) -> String {
    format!("{queue}:task:{task}")
}
/// The list a worker pushes dispatch `id`'s result to.
pub(crate) fn result_key(queue: &str, id: &str) -> String {
    format!("{queue}:result:{id}")
}
/// The counter of deliveries of dispatch `id` (exists once a worker took it).
pub(crate) fn deliveries_key(queue: &str, id: &str) -> String {
    format!("{queue}:deliveries:{id}")
}
/// Set by the coordinator when dispatch `id` must stop (value: why).
pub(crate) fn cancel_key(queue: &str, id: &str) -> String {
    format!("{queue}:cancel:{id}")
}

/// One task sent to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskMessage {
    /// This dispatch's id (a UUID), naming its result, delivery and cancel keys.
    pub(crate) id: String,
    pub(crate) run_id: String,
    pub(crate) task: String,
    /// The worker function to run (the task's name unless set otherwise).
    pub(crate) function: String,
    pub(crate) attempt: u32,
    /// Time left before the task's own timeout, in ms; 0 = none.
    pub(crate) timeout_ms: u64,
    /// Outputs of the task's upstream tasks.
    pub(crate) upstream: Vec<(String, Vec<u8>)>,
    /// The run's initial context.
    pub(crate) initial: Vec<(String, Vec<u8>)>,
}

/// Packs `(name, bytes)` entries.
pub(crate) fn pack<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn bad(what: &str) -> Error {
    Error::backend(format!("malformed remote task message: {what}"))
}

/// Unpacks what [`pack`] wrote.
pub(crate) fn unpack(mut b: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    fn take<'a>(b: &mut &'a [u8]) -> Result<&'a [u8]> {
        if b.len() < 4 {
            return Err(bad("truncated length"));
        }
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() < 4 + n {
            return Err(bad("truncated entry"));
        }
        let (v, rest) = b[4..].split_at(n);
        *b = rest;
        Ok(v)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let k = String::from_utf8(take(&mut b)?.to_vec()).map_err(|_| bad("name not UTF-8"))?;
        let v = take(&mut b)?.to_vec();
        out.push((k, v));
    }
    Ok(out)
}

impl TaskMessage {
    /// The stream entry's fields.
    pub(crate) fn fields(&self) -> Vec<(&'static str, Vec<u8>)> {
        let refs = |e: &[(String, Vec<u8>)]| pack(e.iter().map(|(k, v)| (k.as_str(), &v[..])));
        vec![
            ("id", self.id.clone().into_bytes()),
            ("run_id", self.run_id.clone().into_bytes()),
            ("task", self.task.clone().into_bytes()),
            ("fn", self.function.clone().into_bytes()),
            ("attempt", self.attempt.to_string().into_bytes()),
            ("timeout_ms", self.timeout_ms.to_string().into_bytes()),
            ("upstream", refs(&self.upstream)),
            ("initial", refs(&self.initial)),
        ]
    }

    /// Reads a stream entry's fields (a flat `[name, value, ...]` array).
    pub(crate) fn from_fields(fields: &[Value]) -> Result<Self> {
        let get = |name: &str| -> Result<Vec<u8>> {
            fields
                .chunks(2)
                .find(|kv| bytes(&kv[0]).as_deref() == Some(name.as_bytes()))
                .and_then(|kv| kv.get(1).and_then(bytes))
                .ok_or_else(|| bad(&format!("no field {name}")))
        };
        let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| bad("field not UTF-8"));
        Ok(TaskMessage {
            id: text(get("id")?)?,
            run_id: text(get("run_id")?)?,
            task: text(get("task")?)?,
            function: text(get("fn")?)?,
            attempt: text(get("attempt")?)?.parse().map_err(|_| bad("attempt"))?,
            timeout_ms: text(get("timeout_ms")?)?
                .parse()
                .map_err(|_| bad("timeout_ms"))?,
            upstream: unpack(&get("upstream")?)?,
            initial: unpack(&get("initial")?)?,
        })
    }
}

/// The bytes of a string-like reply.
pub(crate) fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// How a remote attempt ended, as its worker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Succeeded, with its output if it set one.
    Success(Option<Vec<u8>>),
    /// Failed, with why.
    Failure(String),
}

/// What a worker pushes to a dispatch's result list: the outcome and which
/// delivery of the task produced it (1 for the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskResult {
    pub(crate) delivery: u32,
    pub(crate) outcome: Outcome,
}

impl TaskResult {
    /// One tag byte (`S` success with output, `N` success without, `F`
    /// failure), the delivery (u32 LE), then the output or message.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, &[u8]) = match &self.outcome {
            Outcome::Success(Some(o)) => (b'S', o),
            Outcome::Success(None) => (b'N', &[]),
            Outcome::Failure(m) => (b'F', m.as_bytes()),
        };
        let mut out = Vec::with_capacity(5 + body.len());
        out.push(tag);
        out.extend_from_slice(&self.delivery.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Reads what [`TaskResult::encode`] wrote.
    pub(crate) fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < 5 {
            return Err(bad("truncated result"));
        }
        let delivery = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
        let body = &b[5..];
        let outcome = match b[0] {
            b'S' => Outcome::Success(Some(body.to_vec())),
            b'N' => Outcome::Success(None),
            b'F' => Outcome::Failure(String::from_utf8_lossy(body).into_owned()),
            _ => return Err(bad("unknown result tag")),
        };
        Ok(TaskResult { delivery, outcome })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips() {
        let m = TaskMessage {
            id: "i".into(),
            run_id: "r".into(),
            task: "t".into(),
            function: "f".into(),
            attempt: 2,
            timeout_ms: 5,
            upstream: vec![("a".into(), b"\x00\xff".to_vec()), ("b".into(), vec![])],
            initial: vec![],
        };
        let flat: Vec<Value> = m
            .fields()
            .into_iter()
            .flat_map(|(k, v)| [Value::BulkString(k.into()), Value::BulkString(v)])
            .collect();
        assert_eq!(TaskMessage::from_fields(&flat).unwrap(), m);
        assert!(TaskMessage::from_fields(&flat[..4]).is_err());
        assert!(unpack(&[1, 0, 0]).is_err());
        assert!(unpack(&[9, 0, 0, 0, b'x']).is_err());
    }

    #[test]
    fn result_round_trips() {
        for outcome in [
            Outcome::Success(Some(b"out".to_vec())),
            Outcome::Success(None),
            Outcome::Failure("boom".into()),
        ] {
            let r = TaskResult {
                delivery: 3,
                outcome,
            };
            assert_eq!(TaskResult::decode(&r.encode()).unwrap(), r);
        }
        assert!(TaskResult::decode(b"S").is_err());
        assert!(TaskResult::decode(b"X\x01\x00\x00\x00").is_err());
    }
}
