use super::*;
use crate::attributes::GitAttributes;
use crate::test_git::git;

/// Runs git in `dir` as [`git`] does, with `input` on its standard input.
fn git_with_input(dir: &std::path::Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = crate::test_git::command(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Attribute lines whose conversions the oracle test compares, one directory each.
const ATTRIBUTE_SETS: &[&str] = &[
    "",
    "text",
    "-text",
    "text=auto",
    "text eol=crlf",
    "eol=lf",
    "text=auto eol=crlf",
    "crlf",
    "-crlf",
    "crlf=input",
    "ident",
    "text ident",
    "text=auto ident",
    "working-tree-encoding=UTF-16",
    "text working-tree-encoding=UTF-16LE eol=crlf",
    "working-tree-encoding=UTF-16LE-BOM",
    "working-tree-encoding=utf32",
    "text working-tree-encoding=latin-1",
    "text=auto working-tree-encoding=UTF-16BE",
    "working-tree-encoding=utf8 text",
    "working-tree-encoding=no-such-encoding text",
    "binary",
    "filter=not-configured text",
    "text=unknown crlf",
    "-text eol=crlf",
];

fn utf16(text: &str, bom: &[u8], little: bool) -> Vec<u8> {
    let units = text.encode_utf16();
    let bytes = units.flat_map(|u| {
        if little {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        }
    });
    bom.iter().copied().chain(bytes).collect()
}

/// Work-tree contents for every attribute set: line endings of every kind, text that is
/// barely text or barely binary, idents, and encodings valid and not.
fn contents() -> Vec<Vec<u8>> {
    let mut contents: Vec<Vec<u8>> = [
        &b""[..],
        b"a\nb\n",
        b"a\r\nb\r\n",
        b"a\r\nb\n",
        b"a\rb\r\n",
        b"a\r\n\0b\r\n",
        b"a\r\nb\r",
        b"\x01\x02\r\n",
        b"text\r\n\x1a",
        b"$Id$\r\n",
        b"x $Id: abc $\r\ny\n",
        b"$Id: a\r\n$ $Id: b $\n",
        b"caf\xe9\r\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    // Just text (128 printable characters to one control character) with CRLFs, and an
    // ident whose collapse leaves it just binary.
    contents.push([&b"x".repeat(126)[..], b"\x01\r\n"].concat());
    contents.push(
        [
            b"$Id: ",
            &b"y".repeat(70)[..],
            b" $",
            &b"x".repeat(60),
            b"\x01\r\n",
        ]
        .concat(),
    );
    for text in ["a\nb\n", "a\r\nb\r\n", "é\r\n"] {
        contents.push(utf16(text, b"\xFF\xFE", true));
        contents.push(utf16(text, b"\xFE\xFF", false));
        contents.push(utf16(text, b"", true));
        contents.push(utf16(text, b"", false));
    }
    let utf32: Vec<u8> = "a\r\nb\n"
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    contents.push([&b"\xFF\xFE\0\0"[..], &utf32].concat());
    contents.push(b"\xFF\xFE\x00\xD8a\0".to_vec());
    contents.push(b"\xFF\xFEa\0b".to_vec());
    contents
}

/// The port agrees with git: for each attribute set, configuration and content, and each
/// of several blobs in the index (git's own conversion, the bytes as they are, the bytes
/// with CRLFs made LFs, with idents collapsed), [`ToGit::matches`] says the file matches
/// its index blob exactly when `git status` finds it unmodified.
#[test]
fn conversions_agree_with_git_status() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    git(dir.path(), &["init", "-q", "repo"]);
    let mut attributes = String::new();
    for (k, set) in ATTRIBUTE_SETS.iter().enumerate() {
        attributes.push_str(&format!("d{k}/** {set}\n"));
    }
    std::fs::write(root.join(".gitattributes"), attributes).unwrap();
    let contents = contents();
    // Every (attribute set, content) in a directory of its own, for git's hash.
    let mut first_paths = Vec::new();
    for k in 0..ATTRIBUTE_SETS.len() {
        std::fs::create_dir_all(root.join(format!("d{k}"))).unwrap();
        for (i, content) in contents.iter().enumerate() {
            let path = format!("d{k}/c{i}-0");
            std::fs::write(root.join(&path), content).unwrap();
            first_paths.push(path);
        }
    }
    let stdin_paths = |paths: &[String]| paths.iter().map(|p| format!("{p}\n")).collect::<String>();
    // git's conversion of each, with no blob in the index for the path.
    let by_git = git_with_input(
        &root,
        &["hash-object", "--stdin-paths"],
        stdin_paths(&first_paths).as_bytes(),
    );
    let by_git: Vec<&str> = std::str::from_utf8(&by_git).unwrap().lines().collect();
    // Their objects too, which `text=auto` reads from the index: `git hash-object -w`
    // refuses content it cannot decode, one refusal stopping all files given with it.
    let write = |paths: &[String]| {
        crate::test_git::command(&root)
            .args(["hash-object", "-w", "--"])
            .args(paths)
            .output()
            .unwrap()
            .status
            .success()
    };
    for directory in first_paths.chunks(contents.len()) {
        if !write(directory) {
            for path in directory {
                write(std::slice::from_ref(path));
            }
        }
    }
    // Other blobs, written as they are.
    let mut others = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let variants = [
            content.clone(),
            strip_cr_before_lf(content),
            ident_to_git(content.clone(), true),
        ];
        for (v, variant) in variants.iter().enumerate() {
            let path = scratch.join(format!("c{i}-{v}"));
            std::fs::write(&path, variant).unwrap();
            others.push(path.to_str().unwrap().to_owned());
        }
    }
    let written = git_with_input(
        &root,
        &["hash-object", "-w", "--no-filters", "--stdin-paths"],
        stdin_paths(&others).as_bytes(),
    );
    let written: Vec<&str> = std::str::from_utf8(&written).unwrap().lines().collect();

    let mut index = String::new();
    let mut cases = Vec::new();
    for k in 0..ATTRIBUTE_SETS.len() {
        for (i, content) in contents.iter().enumerate() {
            let own = by_git[k * contents.len() + i];
            let blobs = [own, written[i * 3], written[i * 3 + 1], written[i * 3 + 2]];
            for (j, blob) in blobs.iter().enumerate() {
                let path = format!("d{k}/c{i}-{j}");
                std::fs::write(root.join(&path), content).unwrap();
                index.push_str(&format!("100644 {blob}\t{path}\n"));
                cases.push((path, k, i, Oid::from_str(blob).unwrap()));
            }
        }
    }
    git_with_input(&root, &["update-index", "--index-info"], index.as_bytes());

    let paths = cases.iter().map(|(path, ..)| path.as_bytes());
    let asked = GitAttributes::ask(&root.join(".git"), &root, paths).unwrap();
    let settings: [&[&str]; 4] = [
        &[],
        &["core.autocrlf", "true"],
        &["core.autocrlf", "input"],
        &["core.eol", "crlf"],
    ];
    let mut disagreements = Vec::new();
    for setting in settings {
        for key in ["core.autocrlf", "core.eol"] {
            let _ = crate::test_git::command(&root)
                .args(["config", "--unset-all", key])
                .status();
        }
        if !setting.is_empty() {
            git(&root, &["config", setting[0], setting[1]]);
        }
        // Without optional locks git does not store what it found in the index: each
        // setting is judged on content, not on the stat data of the last.
        let status = git(
            &root,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "-z",
                "--untracked-files=no",
                "--no-renames",
            ],
        );
        let modified: std::collections::HashSet<&[u8]> = status
            .split(|&b| b == 0)
            .filter(|entry| entry.get(1) == Some(&b'M'))
            .map(|entry| &entry[3..])
            .collect();
        let config = ConvertConfig::of(&Repository::open(&root).unwrap());
        for (path, k, i, blob) in &cases {
            let to_git = ToGit::new(asked.get(path.as_bytes()).unwrap(), &config).unwrap();
            let ours = to_git.matches(contents[*i].clone(), *blob);
            let git_says = !modified.contains(path.as_bytes());
            if ours != git_says {
                disagreements.push(format!(
                    "{setting:?} {path} ({:?}, {:?}): git says clean {git_says}",
                    ATTRIBUTE_SETS[*k],
                    String::from_utf8_lossy(&contents[*i])
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn encoding_names_compare_as_in_git() {
    assert!(same_utf_encoding(b"UTF-16LE", b"utf16le"));
    assert!(same_utf_encoding(b"utf-8", b"UTF8"));
    assert!(!same_utf_encoding(b"UTF-16", b"UTF-16LE"));
    assert!(!same_utf_encoding(b"UTF-16LE-BOM", b"UTF-16LE"));
    assert!(same_encoding(b"ISO-8859-1", b"iso-8859-1"));
    assert!(!same_encoding(b"latin1", b"ISO-8859-1"));
}

#[test]
fn decoding_follows_iconv_and_the_byte_order_marks() {
    let le = b"\xFF\xFEh\0i\0\n\0".to_vec();
    assert_eq!(encode_to_git(le.clone(), b"UTF-16"), b"hi\n");
    // The mark is refused where the encoding names the byte order, required where not.
    assert_eq!(encode_to_git(le.clone(), b"UTF-16LE"), le);
    assert_eq!(encode_to_git(b"h\0i\0".to_vec(), b"UTF-16LE"), b"hi");
    assert_eq!(encode_to_git(b"\0h\0i".to_vec(), b"UTF-16"), b"\0h\0i");
    assert_eq!(encode_to_git(le.clone(), b"UTF-16LE-BOM"), b"hi\n");
    // An odd length or a lone surrogate cannot be decoded: the bytes stay.
    assert_eq!(encode_to_git(b"h\0i".to_vec(), b"UTF-16LE"), b"h\0i");
    assert_eq!(
        encode_to_git(b"\x00\xD8".to_vec(), b"UTF-16LE"),
        b"\x00\xD8"
    );
    assert_eq!(
        encode_to_git(b"caf\xE9".to_vec(), b"latin-1"),
        "café".as_bytes()
    );
    assert_eq!(encode_to_git(b"x".to_vec(), b"no-such-encoding"), b"x");
    // Large enough to make iconv ask for more room.
    let long: Vec<u8> = "é"
        .repeat(10_000)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(
        encode_to_git(long, b"UTF-16LE"),
        "é".repeat(10_000).as_bytes()
    );
}

#[test]
fn ident_collapses_as_in_git() {
    let ident = |s: &str| String::from_utf8(ident_to_git(s.as_bytes().to_vec(), true)).unwrap();
    assert_eq!(ident("a $Id: 123 $ b"), "a $Id$ b");
    assert_eq!(ident("$Id$"), "$Id$");
    assert_eq!(ident("$Id: x\n$ y $Id: z $"), "$Id: x\n$ y $Id$");
    assert_eq!(ident("$Id: open"), "$Id: open");
    assert_eq!(ident("$$Id:$"), "$$Id$");
}

#[test]
fn text_statistics_tell_binary_as_git_does() {
    assert!(!TextStats::of(b"a\r\nb\n").is_binary());
    assert!(TextStats::of(b"a\rb\n").is_binary());
    assert!(TextStats::of(b"a\0b").is_binary());
    assert!(!TextStats::of(b"text\x1a").is_binary());
    assert!(TextStats::of(b"\x01").is_binary());
    let mostly_text = [b"x".repeat(128), b"\x01".to_vec()].concat();
    assert!(!TextStats::of(&mostly_text).is_binary());
}
