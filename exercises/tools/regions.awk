# regions.awk: the C-reading helpers of exercise.sh (POSIX awk; mawk is enough).
#
# A region is the text between the lines
#     /* BEGIN EXERCISE 1.2 */
#     /* END EXERCISE 1.2 */
# and holds only function definitions and comments. These helpers walk a
# region's text one character at a time, skipping comments, strings and
# character literals, so a brace inside '{' or "}" or a comment never counts.

# The id of a marker line ("1.2"), or "" if the line is not a marker of kind
# ("BEGIN" or "END").
function marker_id(line, kind,    s) {
    s = line
    sub(/^[ \t]+/, "", s)
    sub(/[ \t\r]+$/, "", s)
    if (s !~ ("^/\\* " kind " EXERCISE [0-9]+\\.[0-9]+ \\*/$")) return ""
    sub("^/\\* " kind " EXERCISE ", "", s)
    sub(/ \*\/$/, "", s)
    return s
}

# Does a function whose text before its opening brace is sig return void?
function returns_void(sig,    s) {
    s = sig
    gsub(/\n/, " ", s)
    sub(/^[ \t]+/, "", s)
    while (s ~ /^(static|inline|extern)[ \t]/) {
        sub(/^[a-z]+[ \t]+/, "", s)
    }
    return s ~ /^void[ \t]+[A-Za-z_]/
}

# Walks text and calls nothing: fills the globals
#   nsig, sigs[1..nsig]    the text before each top-level '{' (comments removed,
#                          whitespace collapsed): the function signatures
#   stub                   text with every top-level body replaced by a TODO
#                          body for exercise id
function scan(text, id,    n, i, c, c2, depth, mode, out, sig, body_ret) {
    n = length(text)
    depth = 0
    mode = ""   # "", "line", "block", "str", "chr"
    out = ""
    sig = ""
    nsig = 0
    for (i = 1; i <= n; i++) {
        c = substr(text, i, 1)
        c2 = substr(text, i, 2)
        if (mode == "line") {
            if (c == "\n") mode = ""
            if (depth == 0) out = out c
            continue
        }
        if (mode == "block") {
            if (c2 == "*/") { mode = ""; if (depth == 0) out = out c2; i++; continue }
            if (depth == 0) out = out c
            continue
        }
        if (mode == "str" || mode == "chr") {
            if (c == "\\") { if (depth == 0) { out = out c2; sig = sig c2 } i++; continue }
            if ((mode == "str" && c == "\"") || (mode == "chr" && c == "'")) mode = ""
            if (depth == 0) { out = out c; sig = sig c }
            continue
        }
        if (c2 == "//") { mode = "line"; if (depth == 0) out = out c2; i++; continue }
        if (c2 == "/*") { mode = "block"; if (depth == 0) out = out c2; i++; continue }
        if (c == "\"") mode = "str"
        if (c == "'") mode = "chr"
        if (c == "{") {
            if (depth == 0) {
                sigs[++nsig] = normalise(sig)
                body_ret = returns_void(sig) ? "" : "    return 0;\n"
                out = out "{\n    UM_TODO(\"" id "\");\n" body_ret "}"
                sig = ""
            }
            depth++
            continue
        }
        if (c == "}") {
            depth--
            if (depth < 0) { print "error: unbalanced '}' in exercise " id > "/dev/stderr"; exit 2 }
            continue
        }
        if (depth == 0) {
            out = out c
            if (c == ";") sig = ""   # a declaration, not a definition
            else sig = sig c
        }
    }
    if (depth != 0 || mode == "block" || mode == "str") {
        print "error: exercise " id ": a brace, comment or string is not closed" > "/dev/stderr"
        exit 2
    }
    stub = out
}

function normalise(s) {
    gsub(/[ \t\r\n]+/, " ", s)
    sub(/^ /, "", s)
    sub(/ $/, "", s)
    return s
}
