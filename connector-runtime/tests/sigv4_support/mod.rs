//! AWS Signature Version 4 computed from the published algorithm, independently of the
//! runtime: the reference the SigV4 tests check the wire against.

/// SigV4 computed from the published algorithm, independently of the runtime.
#[allow(clippy::too_many_arguments)]
pub fn sigv4_reference(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    amz_date: &str,
    region: &str,
    service: &str,
    akid: &str,
    secret: &str,
) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};
    fn mac(key: &[u8], data: &str) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    }
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed: Vec<&str> = hs.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = mac(format!("AWS4{secret}").as_bytes(), date);
    let k = mac(&k, region);
    let k = mac(&k, service);
    let k = mac(&k, "aws4_request");
    let sig = hex::encode(mac(&k, &to_sign));
    format!("AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={signed}, Signature={sig}")
}
