//! Fixed codes that label the exporter's counters: error kinds, restart reasons and limits.
//!
//! Every label value of `plugin_exporter_plugin_errors_total{kind}`,
//! `plugin_exporter_plugin_restarts_total{reason}` and
//! `plugin_exporter_plugin_limit_hits_total{limit}` comes from one of these enums, never from
//! free text, so the label sets are bounded and documented in one place.

use std::fmt;

macro_rules! codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every code, in the order the counters are initialised.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

codes! {
    /// Codes for `plugin_exporter_plugin_errors_total{kind}`.
    ErrorKind {
        /// Output of a one-shot plugin (text format, Nagios) that could not be parsed.
        ParseError => "parse_error",
        /// A collect got no answer before its deadline.
        Timeout => "timeout",
        /// A line on stdout that is not a valid protocol message (bad JSON, bad UTF-8, a blank
        /// line, an unsolicited answer, an unknown protocol version).
        Protocol => "protocol",
        /// A protocol line longer than the line limit.
        LineTooLong => "line_too_long",
        /// A series, unit or family dropped by validation.
        InvalidMetric => "invalid_metric",
        /// A series dropped because the same series was already present.
        DuplicateSeries => "duplicate_series",
        /// A value OpenMetrics forbids where it stands, dropped with the least it spoils: a
        /// NaN or negative histogram or summary sum, a histogram sum beside negative bucket
        /// bounds, a negative gauge histogram sum without negative buckets (the sum and count
        /// go), a negative quantile value (the quantile goes), an info value other than 1 or a
        /// stateset value other than 0 or 1 (the series goes), a timestamp or created time
        /// that is not finite.
        ForbiddenValue => "forbidden_value",
        /// A series repeated with a timestamp not after its previous one, or once with and
        /// once without a timestamp; the repeat is dropped (a later timestamp replaces the
        /// earlier sample, which is no error).
        TimestampOrder => "timestamp_order",
        /// An exemplar dropped (its sample kept): on a sample that takes none (only counters
        /// and histogram and gauge histogram buckets do), with labels over 128 characters, an
        /// invalid or repeated label name, or a timestamp that is not finite.
        InvalidExemplar => "invalid_exemplar",
        /// A series dropped because another plugin owns its family with another type or help.
        Conflict => "conflict",
        /// An answer to a collect that had already timed out.
        Late => "late",
        /// The plugin answered a collect with `error`, or a one-shot command failed.
        PluginError => "plugin_error",
        /// A collect rejected whole for holding more series than `max_series`.
        SeriesLimit => "series_limit",
        /// A collect rejected whole for a series over `max_labels` or the label length bounds.
        LabelLimit => "label_limit",
    }
}

codes! {
    /// Codes for `plugin_exporter_plugin_restarts_total{reason}`.
    RestartReason {
        /// A restart asked for through the API.
        Requested => "requested",
        /// The plugin exited on its own (any exit code).
        Exited => "exited",
        /// A signal the exporter did not send killed the plugin.
        Crashed => "crashed",
        /// The plugin left collects unanswered and was stopped.
        Timeout => "timeout",
        /// The plugin broke the protocol (unknown protocol version).
        Protocol => "protocol",
        /// The plugin closed its stdout but kept running.
        StdoutClosed => "stdout_closed",
        /// The command could not be started.
        SpawnFailed => "spawn_failed",
        /// The plugin was killed for exceeding its memory limit.
        Oom => "oom",
        /// The executable's SHA-256 did not match the configured one; it was not started.
        Checksum => "checksum",
    }
}

codes! {
    /// Codes for `plugin_exporter_plugin_limit_hits_total{limit}`.
    LimitKind {
        /// The memory limit was reached (cgroup failcnt or `max` events; the watchdog's kills).
        Memory => "memory",
        /// The CPU quota throttled the plugin (periods throttled; the watchdog's stops).
        Cpu => "cpu",
        /// The process limit refused a fork.
        Pids => "pids",
        /// A collect held more series than `max_series`.
        MaxSeries => "max_series",
        /// A series had more labels than `max_labels`, or a label over the length bounds.
        MaxLabels => "max_labels",
        /// A protocol line was longer than `max_line`.
        MaxLine => "max_line",
        /// The plugin held more connections than `sandbox.max_connections` and was killed.
        Connections => "connections",
    }
}

codes! {
    /// Codes for `plugin_exporter_remote_storage_samples_dropped_total{reason}`.
    RemoteDrop {
        /// The shard's queue was full: its oldest sample made room.
        QueueFull => "queue_full",
        /// The destination answered 4xx (429 too unless retried): not retried.
        HttpClientError => "http_4xx",
        /// `write_relabel_configs` dropped the series.
        Relabel => "relabel",
        /// The destination was removed or the exporter stopped while samples waited.
        Stopped => "stopped",
    }
}

codes! {
    /// Codes for `plugin_exporter_processor_errors_total{kind}`: why a processor did not
    /// process a batch (which was then served unprocessed or dropped, by its `on_error`), or
    /// why its answer counted as invalid.
    ProcessorErrorKind {
        /// No answer before the processor's timeout (it is restarted).
        Timeout => "timeout",
        /// The processor exited or closed its stdout with the batch open (it is restarted).
        Crash => "crash",
        /// A line that is no protocol message, or an answer to another batch (restarted).
        Garbage => "garbage",
        /// An answer over the collector's budgets, or one validation drops more from than
        /// from the batch it was sent.
        Invalid => "invalid",
        /// The processor answered `error`.
        Error => "error",
        /// The processor was not running (starting, restarting, disabled).
        Down => "down",
    }
}

codes! {
    /// Codes for `plugin_exporter_output_writes_total{result}`: what became of one write
    /// attempt, or of a write given up.
    OutputResult {
        /// The output answered `ack`.
        Ack => "ack",
        /// An attempt failed: an `error` answer, no answer within the timeout, the output
        /// exited or broke the protocol with the write open.
        Error => "error",
        /// A failed write was sent again (after a backoff delay).
        Retried => "retried",
        /// The output's queue was full: its oldest waiting write made room.
        DroppedQueueFull => "dropped_queue_full",
        /// A write failed `max_retries` times after its first attempt and was given up.
        DroppedRetries => "dropped_retries",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_label_values() {
        let all: Vec<&str> = ErrorKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(RestartReason::ALL.iter().map(|r| r.as_str()))
            .chain(LimitKind::ALL.iter().map(|l| l.as_str()))
            .chain(ProcessorErrorKind::ALL.iter().map(|l| l.as_str()))
            .chain(OutputResult::ALL.iter().map(|l| l.as_str()))
            .collect();
        for c in &all {
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
        }
        assert_eq!(ErrorKind::ALL.len(), 14);
        assert_eq!(RestartReason::ALL.len(), 9);
        assert_eq!(LimitKind::ALL.len(), 7);
        let mut kinds: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), ErrorKind::ALL.len());
    }
}
