use super::*;

fn first(kind: &'static str, message: &'static str) -> Vec<Exception<'static>> {
    vec![Exception {
        id: crate::model::SegmentId(1).text(),
        message: Cow::Borrowed(message),
        kind: Cow::Borrowed(kind),
        remote: Some(false),
        cause: None,
        stack: Vec::new(),
    }]
}

fn frames(e: &Exception<'_>) -> Vec<(String, i64, String)> {
    e.stack
        .iter()
        .map(|f| (f.path.to_owned(), f.line, f.label.to_owned()))
        .collect()
}

fn f(path: &str, line: i64, label: &str) -> (String, i64, String) {
    (path.into(), line, label.into())
}

#[test]
fn java_frames_and_caused_by_chains() {
    let trace = "java.lang.IllegalStateException: outer\n\
\tat app//com.example.Cart.add(Cart.java:42)\n\
\tat java.base/java.lang.Thread.run(Thread.java:829)\n\
\tat com.example.Native.call(Native Method)\n\
\t... 3 more\n\
Caused by: java.io.IOException: disk\n\
full\n\
\tat com.example.Disk.write(Disk.java:7)\n\
Suppressed: nothing\n";
    let mut ex = first("java.lang.IllegalStateException", "outer");
    parse("java", trace, &mut ex, 0);
    assert_eq!(ex.len(), 2);
    assert_eq!(
        frames(&ex[0]),
        vec![
            // Everything up to the first `/` goes, so `app//` leaves one (as the exporter does).
            f("Cart.java", 42, "/com.example.Cart.add"),
            f("Thread.java", 829, "java.lang.Thread.run"),
            f("Native Method", 0, "com.example.Native.call"),
        ]
    );
    assert_eq!(ex[0].cause.as_deref(), Some(ex[1].id.as_str()));
    assert_eq!(
        (&*ex[1].kind, &*ex[1].message),
        ("java.io.IOException", "diskfull")
    );
    assert_eq!(ex[1].remote, Some(false));
    assert_eq!(
        frames(&ex[1]),
        vec![f("Disk.java", 7, "com.example.Disk.write")]
    );
    // PHP traces are read as Java's.
    let mut php = first("E", "m");
    parse("php", trace, &mut php, 0);
    assert_eq!(php.len(), 2);
}

#[test]
fn java_cause_at_the_very_end_terminates() {
    let mut ex = first("E", "m");
    parse(
        "java",
        "E: m\n\tat a.B.c(B.java:1)\nCaused by: X: y",
        &mut ex,
        0,
    );
    assert_eq!(ex.len(), 2);
    assert_eq!((&*ex[1].kind, &*ex[1].message), ("X", "y"));
}

#[test]
fn python_frames_innermost_first_with_chained_exceptions() {
    let trace = "Traceback (most recent call last):\n  File \"/app/db.py\", line 10, in fetch\n    conn.query()\nKeyError: 'id'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\n    run()\n  File \"/app/main.py\", line 20, in run\n    raise ValueError(\"bad\")\nValueError: bad\n";
    let mut ex = first("ValueError", "bad");
    parse("python", trace, &mut ex, 0);
    assert_eq!(
        frames(&ex[0]),
        vec![
            f("/app/main.py", 20, "run"),
            f("/app/main.py", 3, "<module>")
        ]
    );
    assert_eq!(ex.len(), 2);
    assert_eq!((&*ex[1].kind, &*ex[1].message), ("KeyError", "'id'"));
    assert_eq!(frames(&ex[1]), vec![f("/app/db.py", 10, "fetch")]);
    assert_eq!(ex[0].cause.as_deref(), Some(ex[1].id.as_str()));
}

#[test]
fn javascript_and_nodejs_frames() {
    let trace = "Error: boom\n    at Object.<anonymous> (/app/index.js:10:15)\n    at /app/lib.js:3:7\n    at Array.forEach (native)\n    at new Promise (<anonymous>)\n";
    for lang in ["javascript", "nodejs", "webjs"] {
        let mut ex = first("Error", "boom");
        parse(lang, trace, &mut ex, 0);
        assert_eq!(
            frames(&ex[0]),
            vec![
                f("/app/index.js", 10, "Object.<anonymous> "),
                f("/app/lib.js", 3, ""),
                f("native", 0, "Array.forEach "),
                f("<anonymous>", 0, "new Promise "),
            ],
            "{lang}"
        );
    }
}

#[test]
fn dotnet_frames() {
    let trace = "System.Exception: boom\n   at App.Program.Main(String[] args) in C:\\src\\Program.cs:line 42\n   at System.Threading.ThreadHelper.ThreadStart()\n";
    let mut ex = first("System.Exception", "boom");
    parse("dotnet", trace, &mut ex, 0);
    assert_eq!(
        frames(&ex[0]),
        vec![
            f("C:\\src\\Program.cs", 42, "App.Program.Main(String[] args)"),
            f("", 0, "System.Threading.ThreadHelper.ThreadStart()"),
        ]
    );
}

#[test]
fn go_frames() {
    let trace = "panic: boom\ngoroutine 1 [running]:\nmain.handler()\n\t/src/app/main.go:42 +0x1d\nmain.main()\n\t/src/app/main.go:10 +0x25\n";
    let mut ex = first("panic", "boom");
    parse("go", trace, &mut ex, 0);
    assert_eq!(
        frames(&ex[0]),
        vec![
            f("/src/app/main.go", 42, "main.handler()"),
            f("/src/app/main.go", 10, "main.main()"),
        ]
    );
}

#[test]
fn unknown_languages_and_odd_text_leave_no_stack() {
    let mut ex = first("E", "m");
    parse("rust", "E: m\n\tat a.B.c(B.java:1)", &mut ex, 0);
    assert!(ex[0].stack.is_empty());
    for lang in ["java", "python", "nodejs", "dotnet", "go"] {
        for text in [
            "",
            "x",
            "\n",
            "\n\n\n",
            "Caused by: ",
            "  File \"",
            "During handling of the above exception, another exception occurred:",
        ] {
            let mut ex = first("E", "m");
            parse(lang, text, &mut ex, 0);
        }
    }
}
