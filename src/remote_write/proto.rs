//! The remote write 1.0 wire format (`prometheus.WriteRequest`), as prost messages, and the
//! encoding the queue uses: each series' labels are encoded once, when its sample is queued,
//! and a request is those bytes plus each sample, snappy block-compressed.

use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series, one sample each here.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A series' labels as the `labels` fields of a `TimeSeries` (sorted pairs expected),
/// appended to `out`: each a `Label` message written field by field, without building one.
pub fn encode_labels_into<N: AsRef<str>, V: AsRef<str>>(labels: &[(N, V)], out: &mut Vec<u8>) {
    for (name, value) in labels {
        let (name, value) = (name.as_ref(), value.as_ref());
        let len = |s: &str| 1 + prost::encoding::encoded_len_varint(s.len() as u64) + s.len();
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint((len(name) + len(value)) as u64, out);
        for (tag, s) in [(1, name), (2, value)] {
            encode_key(tag, WireType::LengthDelimited, out);
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// [`encode_labels_into`] a new buffer.
pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_labels_into(labels, &mut out);
    out
}

/// Appends one `TimeSeries` (pre-encoded labels and one sample) to a `WriteRequest` body.
pub fn push_series(body: &mut Vec<u8>, labels: &[u8], value: f64, timestamp: i64) {
    let sample = Sample { value, timestamp };
    let sample_len = sample.encoded_len();
    // Field 2 of TimeSeries: key (1 byte), length (1 byte: a sample is at most 20 bytes).
    let series_len = labels.len() + 2 + sample_len;
    encode_key(1, WireType::LengthDelimited, body);
    encode_varint(series_len as u64, body);
    body.extend_from_slice(labels);
    encode_key(2, WireType::LengthDelimited, body);
    encode_varint(sample_len as u64, body);
    sample.encode_raw(body);
}

/// Snappy block compression, as the protocol wants (not the framed format).
pub fn compress(body: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_assembled_requests_decode_as_prost_messages() {
        let labels = vec![
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), "x".to_string()),
        ];
        let mut body = Vec::new();
        push_series(&mut body, &encode_labels(&labels), 1.5, 1_700_000_000_123);
        push_series(&mut body, &encode_labels(&labels[..1]), -2.0, 0);
        let decoded = WriteRequest::decode(&body[..]).unwrap();
        assert_eq!(decoded.timeseries.len(), 2);
        assert_eq!(decoded.timeseries[0].labels[1].value, "x");
        assert_eq!(
            decoded.timeseries[0].samples,
            [Sample {
                value: 1.5,
                timestamp: 1_700_000_000_123
            }]
        );
        let compressed = compress(&body);
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(back, body);
    }
}
