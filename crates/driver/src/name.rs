//! The strategy column's name for a program's command line.

/// The strategy column's name for a command line: its words after any leading environment
/// assignments (`NAME=value`), each without its directories, at most 40 characters
/// (`python3 examples/drivers/python/fresh.py` is `python3 fresh.py`).
pub fn display_name(command: &str) -> String {
    let is_assignment = |word: &&str| {
        word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
    };
    let name = command
        .split_whitespace()
        .skip_while(is_assignment)
        .map(|word| {
            word.rsplit('/')
                .find(|part| !part.is_empty())
                .unwrap_or(word)
        })
        .collect::<Vec<_>>()
        .join(" ");
    if name.chars().count() > 40 {
        let cut: String = name.chars().take(39).collect();
        format!("{cut}…")
    } else if name.is_empty() {
        "driver".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_directories_and_stay_short() {
        assert_eq!(display_name("examples/drivers/mux-age.sh"), "mux-age.sh");
        assert_eq!(
            display_name("python3 examples/drivers/python/fresh.py"),
            "python3 fresh.py"
        );
        assert_eq!(
            display_name("MUX_RECYCLE=stop examples/drivers/mux-age.sh stop"),
            "mux-age.sh stop"
        );
        assert_eq!(display_name("python3 run.py --x=/a/b"), "python3 run.py b");
        assert_eq!(display_name("  "), "driver");
        assert_eq!(display_name(&"x".repeat(50)).chars().count(), 40);
    }
}
