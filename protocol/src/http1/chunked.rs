//! The chunked transfer coding decoder (RFC 9112 §7.1): a byte-at-a-time state machine for
//! the framing, slices of the input for the data.
//!
//! All state lives in the struct, none in the input, so input may be split at any byte and
//! every byte is consumed exactly once: the caller never re-presents what was consumed.

use super::chars::{hex_val, is_escapable, is_field, is_qdtext, is_tchar, is_ws};
use super::error::Error;
use super::limits::Limits;

/// Framing bytes a chunked body may carry beyond what its data pays for, before it is refused
/// as [`Error::ChunkedOverhead`] (400).
///
/// Each chunk's framing (size line with its extensions and CRLF, plus the CRLF after the data)
/// is charged against an allowance of [`CHUNK_OVERHEAD_PER_CHUNK`] bytes plus
/// [`CHUNK_OVERHEAD_PER_DATA_BYTE`] per data byte of that chunk; what a chunk does not use is
/// not carried over, what it overspends accumulates, and the body is refused once the
/// overspend passes this many bytes. A sender streaming one byte per chunk (`1\r\nX\r\n`,
/// 5 bytes of framing) stays within it; a 1 MiB body sent as a gigabyte of chunk extensions
/// does not, and is refused after about 16 KiB of them. The same rule as Go's fix for
/// CVE-2023-39326.
pub const CHUNK_OVERHEAD_ALLOWANCE: u64 = 16 * 1024;
/// Framing bytes every chunk may carry for free (see [`CHUNK_OVERHEAD_ALLOWANCE`]).
pub const CHUNK_OVERHEAD_PER_CHUNK: u64 = 16;
/// Framing bytes each data byte pays for (see [`CHUNK_OVERHEAD_ALLOWANCE`]).
pub const CHUNK_OVERHEAD_PER_DATA_BYTE: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    Size,
    /// BWS after the size: only `;` may follow.
    SizeWs,
    /// After `;`: BWS, then an extension name.
    ExtNameStart,
    ExtName,
    /// BWS after a name: `=` or `;`.
    ExtNameWs,
    /// After `=`: BWS, then a token or a quoted string.
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtEscape,
    /// After an extension value: BWS then `;`, or the line end.
    ExtEnd,
    /// BWS after an extension value: only `;` may follow.
    ExtWs,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer line: a field name, or CR for the end of the body.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// Progress of one chunked body.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: State,
    /// Size being read, then the data bytes still to come in the current chunk.
    size: u64,
    total: u64,
    line: usize,
    /// Framing bytes spent beyond the chunks' allowance (see [`CHUNK_OVERHEAD_ALLOWANCE`]).
    excess: u64,
    trailer_bytes: usize,
    trailer_fields: usize,
    limits: Limits,
}

/// What one call produced.
pub(crate) enum Step {
    /// `Data(from, to)`: `input[from..to]` is chunk data.
    Data(usize, usize),
    NeedMore(usize),
    End(usize),
}

impl Chunked {
    pub(crate) fn new(limits: &Limits) -> Self {
        Chunked {
            state: State::SizeStart,
            size: 0,
            total: 0,
            line: 0,
            excess: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
            limits: limits.effective(),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<Step, Error> {
        let mut i = 0;
        loop {
            match self.state {
                State::Done => return Ok(Step::End(i)),
                State::Data => {
                    let avail = input.len() - i;
                    if avail == 0 {
                        return Ok(Step::NeedMore(i));
                    }
                    let n = usize::try_from(self.size).map_or(avail, |s| s.min(avail));
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Step::Data(i, i + n));
                }
                _ => {
                    let Some(&b) = input.get(i) else {
                        return Ok(Step::NeedMore(i));
                    };
                    i += 1;
                    self.state = self.framing(b)?;
                }
            }
        }
    }

    fn framing(&mut self, b: u8) -> Result<State, Error> {
        use State::*;
        let state = self.state;
        if matches!(
            state,
            SizeStart
                | Size
                | SizeWs
                | ExtNameStart
                | ExtName
                | ExtNameWs
                | ExtValueStart
                | ExtToken
                | ExtQuoted
                | ExtEscape
                | ExtEnd
                | ExtWs
        ) && b != b'\r'
        {
            self.line += 1;
            if self.line > self.limits.max_chunk_line {
                return Err(Error::ChunkLineTooLong);
            }
        }
        let ext = Err(Error::InvalidChunkExtension);
        Ok(match (state, b) {
            (SizeStart, _) => {
                self.size = u64::from(hex_val(b).ok_or(Error::InvalidChunkSize)?);
                Size
            }
            (Size, b'\r') => SizeLf,
            (Size, b';') => ExtNameStart,
            (Size, _) if is_ws(b) => SizeWs,
            (Size, _) => {
                let digit = hex_val(b).ok_or(Error::InvalidChunkSize)?;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(u64::from(digit)))
                    .ok_or(Error::ChunkSizeOverflow)?;
                Size
            }
            (SizeWs, b';') => ExtNameStart,
            (SizeWs, _) if is_ws(b) => SizeWs,
            (SizeWs, _) => return Err(Error::InvalidChunkSize),
            (ExtNameStart, _) if is_ws(b) => ExtNameStart,
            (ExtNameStart, _) if is_tchar(b) => ExtName,
            (ExtName, b'\r') => SizeLf,
            (ExtName, b';') => ExtNameStart,
            (ExtName, b'=') => ExtValueStart,
            (ExtName, _) if is_tchar(b) => ExtName,
            (ExtName, _) if is_ws(b) => ExtNameWs,
            (ExtNameWs, b';') => ExtNameStart,
            (ExtNameWs, b'=') => ExtValueStart,
            (ExtNameWs, _) if is_ws(b) => ExtNameWs,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart, _) if is_ws(b) => ExtValueStart,
            (ExtValueStart, _) if is_tchar(b) => ExtToken,
            (ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtToken | ExtEnd, b'\r') => SizeLf,
            (ExtToken | ExtEnd | ExtWs, b';') => ExtNameStart,
            (ExtToken | ExtEnd | ExtWs, _) if is_ws(b) => ExtWs,
            (ExtQuoted, b'"') => ExtEnd,
            (ExtQuoted, b'\\') => ExtEscape,
            (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
            (ExtEscape, _) if is_escapable(b) => ExtQuoted,
            (
                ExtNameStart | ExtName | ExtNameWs | ExtValueStart | ExtToken | ExtQuoted
                | ExtEscape | ExtEnd | ExtWs,
                _,
            ) => return ext,
            (SizeLf, b'\n') => {
                self.charge_framing()?;
                self.line = 0;
                if self.size == 0 {
                    TrailerStart
                } else {
                    self.total = self.total.saturating_add(self.size);
                    if self.total > self.limits.max_body {
                        return Err(Error::BodyTooLarge);
                    }
                    Data
                }
            }
            (SizeLf, _) => return Err(Error::InvalidLineEnding),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeStart,
            (DataCr | DataLf, _) => return Err(Error::InvalidChunkDelimiter),
            (TrailerStart, b'\r') => EndLf,
            (EndLf, b'\n') => Done,
            (EndLf, _) => return Err(Error::InvalidLineEnding),
            (TrailerStart | TrailerName | TrailerValue | TrailerLf, _) => self.trailer(b)?,
            (Data | Done, _) => state,
        })
    }

    /// Charges the size line just ended (and the CRLF that will follow its data) against the
    /// chunk's allowance; see [`CHUNK_OVERHEAD_ALLOWANCE`].
    fn charge_framing(&mut self) -> Result<(), Error> {
        // The line's bytes without CR, plus its CRLF and the CRLF after the data.
        let framing = self.line as u64 + 4;
        let allowance = CHUNK_OVERHEAD_PER_CHUNK
            .saturating_add(self.size.saturating_mul(CHUNK_OVERHEAD_PER_DATA_BYTE));
        self.excess = self
            .excess
            .saturating_add(framing)
            .saturating_sub(allowance);
        if self.excess > CHUNK_OVERHEAD_ALLOWANCE {
            return Err(Error::ChunkedOverhead);
        }
        Ok(())
    }

    /// Trailer fields follow the header field rules; they are validated, counted and
    /// discarded (RFC 9110 §6.5.1 lets a recipient drop them).
    fn trailer(&mut self, b: u8) -> Result<State, Error> {
        use State::*;
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.limits.max_trailer {
            return Err(Error::TrailersTooLarge);
        }
        match (self.state, b) {
            (TrailerStart, _) if is_tchar(b) => {
                self.trailer_fields += 1;
                if self.trailer_fields > self.limits.max_headers {
                    return Err(Error::TrailersTooLarge);
                }
                Ok(TrailerName)
            }
            (TrailerName, b':') => Ok(TrailerValue),
            (TrailerName, _) if is_tchar(b) => Ok(TrailerName),
            (TrailerValue, b'\r') => Ok(TrailerLf),
            (TrailerValue, _) if is_field(b) => Ok(TrailerValue),
            (TrailerLf, b'\n') => Ok(TrailerStart),
            _ => Err(Error::InvalidTrailer),
        }
    }
}
