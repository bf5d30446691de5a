/// Why a captured frame produced no fingerprint. These are expected outcomes
/// of real traffic, counted in the summary, never errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The capture's link type is one synprint does not decode.
    UnknownLinkType,
    /// A link-layer protocol (EtherType, address family) that is not IP.
    NotIp,
    /// IP, but the transport is neither TCP nor a tunnel synprint opens
    /// (UDP on a tunnel's port whose first bytes are not that tunnel's
    /// header included).
    NotTcp,
    /// A tunnel synprint recognises but does not open (e.g. an unknown GRE
    /// or Geneve protocol, L2TPv3).
    UnsupportedEncapsulation,
    /// A non-first fragment, or a first fragment (MF set) whose TCP header
    /// cannot be trusted to be complete.
    Fragment,
    /// The frame ends before a header it announces.
    Truncated,
    /// A header length field that is impossible (IHL < 5, TCP data offset
    /// < 5, lengths past the end).
    BadHeaderLength,
    /// An IP version nibble that is neither 4 nor 6.
    BadIpVersion,
    /// More tunnel layers than synprint follows.
    TooDeep,
}

impl Skip {
    /// Why headers do not fit in a packet: the snap length cut it (`cut`),
    /// or, the packet whole, its IP length leaves them no room (its header
    /// is wrong, as a jumbogram's payload length of 0 is for synprint,
    /// which does not read RFC 2675's jumbo option).
    pub(crate) fn short_of_headers(cut: bool) -> Skip {
        if cut {
            Skip::Truncated
        } else {
            Skip::BadHeaderLength
        }
    }

    pub const ALL: [Skip; 9] = [
        Skip::UnknownLinkType,
        Skip::NotIp,
        Skip::NotTcp,
        Skip::UnsupportedEncapsulation,
        Skip::Fragment,
        Skip::Truncated,
        Skip::BadHeaderLength,
        Skip::BadIpVersion,
        Skip::TooDeep,
    ];

    /// Stable snake_case name used in summaries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::UnknownLinkType => "unknown_link_type",
            Skip::NotIp => "not_ip",
            Skip::NotTcp => "not_tcp",
            Skip::UnsupportedEncapsulation => "unsupported_encapsulation",
            Skip::Fragment => "fragment",
            Skip::Truncated => "truncated",
            Skip::BadHeaderLength => "bad_header_length",
            Skip::BadIpVersion => "bad_ip_version",
            Skip::TooDeep => "too_deep",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
