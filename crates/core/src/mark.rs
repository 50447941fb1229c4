/// What a [`TraceEvent`](crate::TraceEvent) is to a timeline viewer (Perfetto,
/// `chrome://tracing`), beyond its words: the start or end of a span, or an instant worth a
/// marker. Events without a mark are plain log lines.
///
/// Invariant: span ids are unique among the spans of one host for the whole run (`c3`,
/// `session 3.1`, `op 12`), so an [`Mark::End`] names exactly one [`Mark::Begin`] of the same
/// host. A mark never changes [`Trace::render`](crate::Trace::render) or
/// [`Trace::hash`](crate::Trace::hash): those read only time, host and words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mark", rename_all = "kebab-case")]
pub enum Mark {
    /// A span starts (a connection, a session, a command, an operation).
    Begin {
        /// Names the span among the host's spans; its [`Mark::End`] repeats it.
        id: String,
        /// What a viewer labels the span with (`session 3.1`, `op 4 deploy`).
        name: String,
        /// The row it is drawn on: spans of one track are one thing's (a connection and its
        /// sessions) and may nest; a viewer adds rows where they overlap without nesting.
        track: String,
        /// The span it belongs to (a session's connection), if any: it is drawn inside it.
        parent: Option<String>,
    },
    /// The span `id` ends.
    End {
        /// The id its [`Mark::Begin`] gave.
        id: String,
    },
    /// An instant on `track` of the event's host (a refused session, a dropped connection).
    Instant {
        /// The row it is drawn on.
        track: String,
    },
    /// An instant that concerns the whole world (a fault): drawn across every track.
    Global,
}

impl Mark {
    /// The start of span `id`, labelled `name`, on `track`, not inside another span.
    pub fn begin(id: impl Into<String>, name: impl Into<String>, track: impl Into<String>) -> Mark {
        Mark::Begin {
            id: id.into(),
            name: name.into(),
            track: track.into(),
            parent: None,
        }
    }

    /// The start of span `id`, labelled `name`, on `track`, inside span `parent`.
    pub fn begin_in(
        id: impl Into<String>,
        name: impl Into<String>,
        track: impl Into<String>,
        parent: impl Into<String>,
    ) -> Mark {
        Mark::Begin {
            id: id.into(),
            name: name.into(),
            track: track.into(),
            parent: Some(parent.into()),
        }
    }

    /// The end of span `id`.
    pub fn end(id: impl Into<String>) -> Mark {
        Mark::End { id: id.into() }
    }

    /// An instant on `track`.
    pub fn instant(track: impl Into<String>) -> Mark {
        Mark::Instant {
            track: track.into(),
        }
    }
}
