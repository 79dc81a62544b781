use super::*;

fn element(spec: &str) -> Element<'_> {
    parse_element(spec.as_bytes(), false).unwrap()
}

#[test]
fn reads_short_and_long_magic() {
    let exclude = Magic {
        exclude: true,
        ..Magic::default()
    };
    assert_eq!(element(":!a").magic, exclude);
    assert_eq!(element(":^a").magic, exclude);
    assert_eq!(element(":!a").pattern, b"a");
    assert_eq!(element(":(exclude)a").magic, exclude);
    let top = element(":/x");
    assert!(top.magic.top && top.pattern == b"x");
    let both = element(":/!:x");
    assert!(both.magic.top && both.magic.exclude && both.pattern == b"x");
    let long = element(":(top,glob,icase)**/x");
    assert!(long.magic.top && long.magic.glob && long.magic.icase);
    assert_eq!(long.pattern, b"**/x");
    assert_eq!(element(":(prefix:4)sub/x").prefix, Some(4));
    // `::x` is `x`, and a colon later on is no magic.
    assert_eq!(element("::x").pattern, b"x");
    assert_eq!(element("a:(glob)").pattern, b"a:(glob)");
    // With GIT_LITERAL_PATHSPECS nothing is magic.
    let literal = parse_element(b":!a", true).unwrap();
    assert_eq!(literal.pattern, b":!a");
    assert_eq!(literal.magic, Magic::default());
}

#[test]
fn refuses_magic_it_cannot_answer_by_name() {
    let error = |spec: &str| parse_element(spec.as_bytes(), false).unwrap_err();
    assert!(error(":(attr:text)a").contains("'attr' magic"));
    assert!(error(":(attr)a").contains("'attr' magic"));
    assert!(error(":(nonsense)a").contains("'nonsense'"));
    assert!(error(":(glob").contains("missing ')'"));
    assert!(error(":#a").contains("'#'"));
    assert!(error(":(prefix:x)a").contains("'prefix'"));
    let literal_glob = Globals::default().applied_to(Magic {
        literal: true,
        glob: true,
        ..Magic::default()
    });
    assert!(literal_glob.unwrap_err().contains("incompatible"));
}

#[test]
fn the_environment_adds_magic_as_git_does() {
    let noglob = Globals {
        noglob: true,
        ..Globals::default()
    };
    assert!(noglob.applied_to(Magic::default()).unwrap().literal);
    let glob = Magic {
        glob: true,
        ..Magic::default()
    };
    assert!(!noglob.applied_to(glob).unwrap().literal);
    let globbing = Globals {
        glob: true,
        ..Globals::default()
    };
    let literal = Magic {
        literal: true,
        ..Magic::default()
    };
    assert!(!globbing.applied_to(literal).unwrap().glob);
    for (text, value) in [
        ("", Some(false)),
        ("1", Some(true)),
        ("0", Some(false)),
        ("TRUE", Some(true)),
        ("off", Some(false)),
        ("maybe", None),
    ] {
        assert_eq!(parse_bool(text.as_bytes()), value, "{text:?}");
    }
}

#[test]
fn normalizes_like_git() {
    let normal = |path: &str, prefix: usize| {
        let mut prefix = prefix;
        normalize(path.as_bytes(), &mut prefix).map(|p| (String::from_utf8(p).unwrap(), prefix))
    };
    assert_eq!(normal("sub/x", 4), Some(("sub/x".into(), 4)));
    assert_eq!(normal("sub/../x", 4), Some(("x".into(), 0)));
    assert_eq!(normal("sub/..", 4), Some(("".into(), 0)));
    assert_eq!(normal("sub/.", 4), Some(("sub/".into(), 4)));
    assert_eq!(normal("sub/x/.", 4), Some(("sub/x/".into(), 4)));
    assert_eq!(normal("sub//x/./y/", 4), Some(("sub/x/y/".into(), 4)));
    assert_eq!(normal("./a", 0), Some(("a".into(), 0)));
    assert_eq!(normal(".", 0), Some(("".into(), 0)));
    assert_eq!(normal("..", 0), None);
    assert_eq!(normal("sub/../..", 4), None);
    assert_eq!(normal(".hidden/..x", 0), Some((".hidden/..x".into(), 0)));
    assert_eq!(normal("/r/a/../b", 0), Some(("/r/b".into(), 0)));
}

#[test]
fn matches_like_match_pathspec_item() {
    let item = |pattern: &str, prefix: usize, magic: Magic| {
        Item::new(pattern.as_bytes().to_vec(), prefix, magic)
    };
    let plain = Magic::default();
    let f_slash = item("f/", 0, plain);
    assert!(
        !f_slash.matches(b"f", false),
        "a trailing slash: directories only"
    );
    assert!(f_slash.matches(b"f", true));
    assert!(f_slash.matches(b"f/x", false));
    let dir = item("d", 0, plain);
    assert!(dir.matches(b"d/x/y", false) && dir.matches(b"d", true));
    assert!(!dir.matches(b"dx", false));
    let star = item("*.txt", 0, plain);
    assert!(star.matches(b"a/b/c.txt", false), "`*` crosses slashes");
    let glob = Magic {
        glob: true,
        ..Magic::default()
    };
    assert!(!item("*.txt", 0, glob).matches(b"a/c.txt", false));
    assert!(item("a/*", 0, glob).matches(b"a/x", false));
    assert!(!item("a/*", 0, glob).matches(b"a/x/y", false));
    let icase = Magic {
        icase: true,
        ..Magic::default()
    };
    assert!(item("sub/readme", 4, icase).matches(b"sub/README", false));
    assert!(!item("sub/readme", 4, icase).matches(b"SUB/readme", false));
    // The directory part is no pattern either.
    let in_odd_dir = item("a*b/x*", 4, plain);
    assert!(in_odd_dir.matches(b"a*b/xy", false));
    assert!(!in_odd_dir.matches(b"aXb/xy", false));
    let literal = Magic {
        literal: true,
        ..Magic::default()
    };
    assert!(item("a*b", 0, literal).matches(b"a*b", false));
    assert!(!item("a*b", 0, literal).matches(b"axb", false));
    assert!(item("a*b", 0, plain).matches(b"axb", false));
    assert!(item("", 0, plain).matches(b"anything/at/all", false));
}

#[test]
fn knows_which_pathspecs_select_everything() {
    let yes = |pattern: &str, magic: Magic| {
        Item::new(pattern.as_bytes().to_vec(), 0, magic).selects_everything()
    };
    let glob = Magic {
        glob: true,
        ..Magic::default()
    };
    assert!(yes("", Magic::default()));
    assert!(yes("*", Magic::default()));
    assert!(!yes("*", glob));
    assert!(yes("**", glob));
    assert!(!yes("*.txt", Magic::default()));
    assert!(!yes("a", Magic::default()));
}
