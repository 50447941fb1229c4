//! Lines from a pipe, each bounded: a longer line is skipped whole and reported by its length.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line read by [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line within the bound, without its `\n` (or `\r\n`).
    Text(Vec<u8>),
    /// A line over the bound, skipped; its length in bytes.
    TooLong(usize),
}

/// The next line of `reader`, at most `max` bytes kept; `None` at end of stream. A last line
/// without a newline counts as a line.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Line>> {
    let mut kept = Vec::new();
    let mut length = 0usize;
    let mut any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(any.then(|| finish(kept, length, max)));
        }
        any = true;
        let (chunk, newline) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        length = length.saturating_add(chunk.len());
        if length <= max {
            kept.extend_from_slice(chunk);
        } else {
            kept = Vec::new();
        }
        let used = chunk.len() + usize::from(newline);
        reader.consume(used);
        if newline {
            return Ok(Some(finish(kept, length, max)));
        }
    }
}

fn finish(mut kept: Vec<u8>, length: usize, max: usize) -> Line {
    if length > max {
        Line::TooLong(length)
    } else {
        if kept.last() == Some(&b'\r') {
            kept.pop();
        }
        Line::Text(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny buffer, so lines span many fill_buf calls.
        let mut reader = tokio::io::BufReader::with_capacity(3, input);
        let mut out = Vec::new();
        while let Some(line) = read_line(&mut reader, max).await.unwrap() {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_bounded_and_skipped_whole() {
        let got = lines(b"ab\r\n\nabcdefgh\nabcde\nxyz", 5).await;
        assert_eq!(
            got,
            vec![
                Line::Text(b"ab".to_vec()),
                Line::Text(Vec::new()),
                Line::TooLong(8),
                Line::Text(b"abcde".to_vec()),
                Line::Text(b"xyz".to_vec()),
            ]
        );
        assert!(lines(b"", 5).await.is_empty());
        assert_eq!(lines(b"abcdefgh", 5).await, vec![Line::TooLong(8)]);
    }
}
