//! The answer to "did this solve it?": read from the employee's new text.

use crate::parse::normalize;

/// What the employee said about the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    Solved,
    NotSolved,
    /// Anything else: a person reads it.
    Unclear,
}

// Checked on normalised text (NFKC, lower case). "Not solved" is tested first:
// "解決しませんでした" contains "解決し", "not solved" contains "solved".
const NOT_SOLVED: &[&str] = &[
    "解決しません",
    "解決していません",
    "解決しない",
    "解決できません",
    "解決できない",
    "直りません",
    "直らない",
    "直っていません",
    "治りません",
    "だめでした",
    "ダメでした",
    "できませんでした",
    "うまくいきません",
    "うまくいかない",
    "まだ",
    "変わりません",
    "not solved",
    "not fixed",
    "didn't work",
    "did not work",
    "doesn't work",
    "does not work",
    "still not",
    "still can't",
    "still cannot",
    "still doesn't",
    "still does not",
    "still having",
    "no luck",
    "not working",
    "didn't help",
    "did not help",
    "same problem",
    "same issue",
];

const SOLVED: &[&str] = &[
    "解決しました",
    "解決できました",
    "解決いたしました",
    "解決済",
    "直りました",
    "治りました",
    "なおりました",
    "できました",
    "届きました",
    "使えるようになりました",
    "ログインできるようになりました",
    "問題なくなりました",
    "解決",
    "solved",
    "resolved",
    "fixed",
    "it works",
    "it's working",
    "it is working",
    "works now",
    "working now",
    "all good",
    "that worked",
    "that did it",
    "got it working",
    "sorted",
];

/// Read the employee's answer. Only the first few lines count: that is where
/// people answer, and a long mail is a new question for a person.
pub fn read(new_text: &str) -> Feedback {
    let head: String = new_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    let text = normalize(&head);
    if text.is_empty() {
        return Feedback::Unclear;
    }
    if NOT_SOLVED.iter().any(|p| text.contains(p)) {
        return Feedback::NotSolved;
    }
    if SOLVED.iter().any(|p| text.contains(p)) {
        return Feedback::Solved;
    }
    Feedback::Unclear
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solved_in_both_languages() {
        assert_eq!(
            read("解決しました。ありがとうございました。"),
            Feedback::Solved
        );
        assert_eq!(read("直りました！"), Feedback::Solved);
        assert_eq!(read("Thanks, it works now."), Feedback::Solved);
        assert_eq!(read("Solved, thank you"), Feedback::Solved);
    }

    #[test]
    fn not_solved_wins_over_its_own_words() {
        assert_eq!(read("解決しませんでした。"), Feedback::NotSolved);
        assert_eq!(read("Not solved, still no code."), Feedback::NotSolved);
        assert_eq!(read("It did not work."), Feedback::NotSolved);
        assert_eq!(read("まだコードが届きません"), Feedback::NotSolved);
    }

    #[test]
    fn other_answers_are_unclear() {
        assert_eq!(read("Which app should I install?"), Feedback::Unclear);
        assert_eq!(read(""), Feedback::Unclear);
    }
}
