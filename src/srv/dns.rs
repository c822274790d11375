//! The DNS wire format (RFC 1035), sans-IO: the query a stub resolver
//! sends, and the parts of an answer DNS discovery reads (SRV, A, AAAA),
//! with Go's resolver's verdicts on the header (`checkHeader`,
//! `skipToAnswer` in Go's `dnsclient_unix.go`): a name error is "no such
//! host", as is an answer without a record of the asked type; any other
//! failure code is "server misbehaving".
//!
//! Names may be compressed (a two-byte pointer to an earlier name), except
//! an SRV record's target, as Go's parser has it; a pointer may only point
//! backwards and a name follows at most
//! [`POINTERS_MAX`] of them, so a hostile answer cannot loop the parser.

use std::fmt;
use std::net::IpAddr;

/// Record types discovery asks for.
pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;

/// Header flag bits.
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;

const RCODE_SUCCESS: u16 = 0;
const RCODE_NAME_ERROR: u16 = 3;

/// Compression pointers one name may follow.
const POINTERS_MAX: usize = 16;
/// RFC 1035's limit on a name's encoded length.
const NAME_BYTES_MAX: usize = 255;
/// Records read from one answer section.
const ANSWERS_MAX: usize = 1024;

/// What Go's resolver concludes from an answer (its error texts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN, or no record of the type asked for: Go's `errNoSuchHost`.
    NoSuchHost,
    /// A failure code other than a name error.
    ServerMisbehaving,
    /// No answer, not authoritative, no recursion: Go's `errLameReferral`.
    LameReferral,
    /// Not a DNS message, or not the answer to our question.
    CannotUnmarshal,
    /// A record's data cannot be read, or an SRV target is compressed
    /// (RFC 2782 forbids it, and Go refuses it): Go reads record data only
    /// once the exchange succeeded, so this fails the whole lookup.
    BadRecord,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsError::NoSuchHost => "no such host",
            DnsError::ServerMisbehaving => "server misbehaving",
            DnsError::LameReferral => "lame referral",
            DnsError::CannotUnmarshal | DnsError::BadRecord => "cannot unmarshal DNS message",
        })
    }
}

/// An SRV record (RFC 2782); `target` keeps its trailing dot, as Go's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The records of an answer section, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answers {
    pub srv: Vec<Srv>,
    pub ips: Vec<IpAddr>,
}

/// `name` as a fully qualified name: one trailing dot.
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A recursive query for `name`'s records of type `qtype`.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut out = Vec::with_capacity(18 + name.len());
    for v in [id, FLAG_RD, 1, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    encode_name(&mut out, name)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

fn encode_name(out: &mut Vec<u8>, name: &str) -> Result<(), DnsError> {
    let start = out.len();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        // A name we cannot send is one that cannot exist.
        if label.len() > 63 {
            return Err(DnsError::NoSuchHost);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() - start > NAME_BYTES_MAX {
        return Err(DnsError::NoSuchHost);
    }
    Ok(())
}

/// Whether an answer was cut short and must be asked again over TCP.
pub fn truncated(msg: &[u8]) -> bool {
    msg.len() >= 4 && u16::from_be_bytes([msg[2], msg[3]]) & FLAG_TC != 0
}

/// The id of a message (to tell a late answer from ours).
pub fn message_id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// Reads the answer to the query `(id, name, qtype)`.
pub fn parse_answer(msg: &[u8], id: u16, name: &str, qtype: u16) -> Result<Answers, DnsError> {
    let mut r = Reader { msg, pos: 0 };
    let header: Vec<u16> = (0..6).map(|_| r.u16()).collect::<Result<_, _>>()?;
    let (flags, qdcount, ancount) = (header[1], header[2], header[3]);
    if header[0] != id || flags & FLAG_QR == 0 || qdcount != 1 {
        return Err(DnsError::CannotUnmarshal);
    }
    let (qname, qt, qc) = (r.name()?, r.u16()?, r.u16()?);
    if !qname.eq_ignore_ascii_case(&fqdn(name)) || qt != qtype || qc != CLASS_IN {
        return Err(DnsError::CannotUnmarshal);
    }
    let rcode = flags & 0x000f;
    if rcode == RCODE_NAME_ERROR {
        return Err(DnsError::NoSuchHost);
    }
    if rcode == RCODE_SUCCESS && ancount == 0 && flags & (FLAG_AA | FLAG_RA) == 0 {
        return Err(DnsError::LameReferral);
    }
    if rcode != RCODE_SUCCESS {
        return Err(DnsError::ServerMisbehaving);
    }
    let mut answers = Answers::default();
    for _ in 0..usize::from(ancount).min(ANSWERS_MAX) {
        let _owner = r.name()?;
        let (rtype, class, _ttl, len) = (r.u16()?, r.u16()?, r.u32()?, r.u16()?);
        let end = r.pos + usize::from(len);
        if end > msg.len() {
            return Err(DnsError::CannotUnmarshal);
        }
        match (rtype, class) {
            (TYPE_SRV, CLASS_IN) if rtype == qtype => {
                let bad = |_| DnsError::BadRecord;
                let (priority, weight, port) = (
                    r.u16().map_err(bad)?,
                    r.u16().map_err(bad)?,
                    r.u16().map_err(bad)?,
                );
                let target = r.name_uncompressed().map_err(bad)?;
                if r.pos != end {
                    return Err(DnsError::BadRecord);
                }
                answers.srv.push(Srv {
                    priority,
                    weight,
                    port,
                    target,
                });
            }
            (TYPE_A, CLASS_IN) if rtype == qtype && len == 4 => {
                let b: [u8; 4] = msg[r.pos..end].try_into().expect("length checked");
                answers.ips.push(IpAddr::from(b));
            }
            (TYPE_AAAA, CLASS_IN) if rtype == qtype && len == 16 => {
                let b: [u8; 16] = msg[r.pos..end].try_into().expect("length checked");
                answers.ips.push(IpAddr::from(b));
            }
            // CNAMEs and the rest: a recursive server has already followed
            // them, and Go's resolver keeps only the records it asked for.
            _ => {}
        }
        r.pos = end;
    }
    if answers.srv.is_empty() && answers.ips.is_empty() {
        return Err(DnsError::NoSuchHost);
    }
    Ok(answers)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], DnsError> {
        let b = self
            .msg
            .get(self.pos..self.pos + N)
            .ok_or(DnsError::CannotUnmarshal)?;
        self.pos += N;
        Ok(b.try_into().expect("N bytes"))
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        self.bytes::<2>().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        self.bytes::<4>().map(u32::from_be_bytes)
    }

    /// A name that may not be compressed.
    fn name_uncompressed(&mut self) -> Result<String, DnsError> {
        self.name_with(false)
    }

    fn name(&mut self) -> Result<String, DnsError> {
        self.name_with(true)
    }

    /// A name (compressed if `pointers`), as text with a trailing dot; the
    /// reader moves past its bytes here (not past what a pointer points to).
    fn name_with(&mut self, pointers_allowed: bool) -> Result<String, DnsError> {
        let mut text = String::new();
        let mut at = self.pos;
        let mut resume = None;
        let mut pointers = 0;
        loop {
            let len = *self.msg.get(at).ok_or(DnsError::CannotUnmarshal)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    self.pos = resume.unwrap_or(at + 1);
                    break;
                }
                0x00 => {
                    let label = self
                        .msg
                        .get(at + 1..at + 1 + usize::from(len))
                        .ok_or(DnsError::CannotUnmarshal)?;
                    text.push_str(&String::from_utf8_lossy(label));
                    text.push('.');
                    if text.len() > NAME_BYTES_MAX {
                        return Err(DnsError::CannotUnmarshal);
                    }
                    at += 1 + usize::from(len);
                }
                0xc0 if pointers_allowed => {
                    let low = *self.msg.get(at + 1).ok_or(DnsError::CannotUnmarshal)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    pointers += 1;
                    // Backwards only: with the bound, no loop survives.
                    if target >= at || pointers > POINTERS_MAX {
                        return Err(DnsError::CannotUnmarshal);
                    }
                    resume.get_or_insert(at + 2);
                    at = target;
                }
                _ => return Err(DnsError::CannotUnmarshal),
            }
        }
        if text.is_empty() {
            text.push('.');
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a server writes it: the question, then `records`
    /// (owner as a pointer to the question, type, data).
    fn answer(id: u16, flags: u16, name: &str, qtype: u16, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = encode_query(id, name, qtype).unwrap();
        m[2..4].copy_from_slice(&(flags | FLAG_QR).to_be_bytes());
        m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (t, data) in records {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&60u32.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    fn srv_data(prio: u16, weight: u16, port: u16, target: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [prio, weight, port] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(target);
        d
    }

    const NAME: &str = "_etcd-server-ssl._tcp.example.test";

    #[test]
    fn query_bytes() {
        let q = encode_query(0x1234, "a.bc", TYPE_SRV).unwrap();
        assert_eq!(
            q,
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 33, 0, 1]
        );
        assert_eq!(q, encode_query(0x1234, "a.bc.", TYPE_SRV).unwrap());
        assert_eq!(
            encode_query(1, &"x".repeat(64), TYPE_A),
            Err(DnsError::NoSuchHost)
        );
    }

    #[test]
    fn srv_records() {
        let plain = srv_data(0, 0, 2380, b"\x02m1\x07example\x04test\x00");
        let other = srv_data(1, 5, 2381, b"\x02m2\x07example\x04test\x00");
        let m = answer(
            7,
            FLAG_RA,
            NAME,
            TYPE_SRV,
            &[(TYPE_SRV, plain), (TYPE_SRV, other)],
        );
        let a = parse_answer(&m, 7, NAME, TYPE_SRV).unwrap();
        let srv = |priority, weight, port, target: &str| Srv {
            priority,
            weight,
            port,
            target: target.into(),
        };
        assert_eq!(
            a.srv,
            vec![
                srv(0, 0, 2380, "m1.example.test."),
                srv(1, 5, 2381, "m2.example.test.")
            ]
        );
        // A target "m1" + a pointer to the question's "example.test": Go
        // refuses the answer, and so do we.
        let example_at = 12 + 1 + "_etcd-server-ssl".len() + 1 + "_tcp".len();
        let compressed = srv_data(0, 0, 2380, &[2, b'm', b'1', 0xc0, example_at as u8]);
        let m = answer(7, FLAG_RA, NAME, TYPE_SRV, &[(TYPE_SRV, compressed)]);
        assert_eq!(
            parse_answer(&m, 7, NAME, TYPE_SRV),
            Err(DnsError::BadRecord)
        );
    }

    #[test]
    fn a_and_aaaa() {
        let m = answer(
            1,
            FLAG_RA,
            "h.test",
            TYPE_A,
            &[(TYPE_A, vec![127, 0, 0, 2])],
        );
        assert_eq!(
            parse_answer(&m, 1, "h.test.", TYPE_A).unwrap().ips,
            vec!["127.0.0.2".parse::<IpAddr>().unwrap()]
        );
        let m = answer(
            1,
            FLAG_RA,
            "h.test",
            TYPE_AAAA,
            &[(TYPE_AAAA, [0; 15].iter().chain(&[1]).copied().collect())],
        );
        assert_eq!(
            parse_answer(&m, 1, "h.test", TYPE_AAAA).unwrap().ips,
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn go_verdicts() {
        let nx = answer(1, FLAG_RA | RCODE_NAME_ERROR, NAME, TYPE_SRV, &[]);
        assert_eq!(
            parse_answer(&nx, 1, NAME, TYPE_SRV),
            Err(DnsError::NoSuchHost)
        );
        // A name with records, none of the asked type.
        let nodata = answer(1, FLAG_RA, NAME, TYPE_SRV, &[(TYPE_A, vec![1, 2, 3, 4])]);
        assert_eq!(
            parse_answer(&nodata, 1, NAME, TYPE_SRV),
            Err(DnsError::NoSuchHost)
        );
        let servfail = answer(1, FLAG_RA | 2, NAME, TYPE_SRV, &[]);
        assert_eq!(
            parse_answer(&servfail, 1, NAME, TYPE_SRV),
            Err(DnsError::ServerMisbehaving)
        );
        let lame = answer(1, 0, NAME, TYPE_SRV, &[]);
        assert_eq!(
            parse_answer(&lame, 1, NAME, TYPE_SRV),
            Err(DnsError::LameReferral)
        );
        let ok = answer(1, FLAG_AA, NAME, TYPE_SRV, &[]);
        assert_eq!(
            parse_answer(&ok, 1, NAME, TYPE_SRV),
            Err(DnsError::NoSuchHost)
        );
        // Someone else's answer.
        assert_eq!(
            parse_answer(&nx, 2, NAME, TYPE_SRV),
            Err(DnsError::CannotUnmarshal)
        );
        assert_eq!(
            parse_answer(&nx, 1, "other.test", TYPE_SRV),
            Err(DnsError::CannotUnmarshal)
        );
        assert!(!truncated(&nx));
        assert!(truncated(&answer(1, FLAG_TC, NAME, TYPE_SRV, &[])));
    }

    #[test]
    fn hostile_names_end() {
        // An answer's owner name: a pointer to itself, a forward pointer,
        // a label past the end, a reserved label kind.
        for owner in [
            vec![0xc0, 0x00],
            vec![0xc0, 0xff],
            vec![5, b'a'],
            vec![0x80],
        ] {
            let mut m = answer(1, FLAG_RA, NAME, TYPE_A, &[]);
            m[7] = 1;
            let at = m.len();
            m.extend_from_slice(&owner);
            if owner == [0xc0, 0x00] {
                // Point at the pointer itself.
                m[at + 1] = at as u8;
            }
            if owner != [5, b'a'] {
                m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
            }
            assert_eq!(
                parse_answer(&m, 1, NAME, TYPE_A),
                Err(DnsError::CannotUnmarshal),
                "{owner:?}"
            );
        }
        let mut m = answer(1, FLAG_RA, NAME, TYPE_SRV, &[]);
        m.truncate(20);
        assert_eq!(
            parse_answer(&m, 1, NAME, TYPE_SRV),
            Err(DnsError::CannotUnmarshal)
        );
    }
}
