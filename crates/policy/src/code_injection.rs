//! `code_injection`: generated code that runs shells, evaluates strings, downloads and
//! executes, deserialises untrusted data, builds SQL by string formatting or carries SQL
//! injection payloads, pipes downloads into a shell, runs encoded PowerShell, or destroys
//! data. Patterns follow Semgrep's and Bandit's dangerous-call rules.

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::rule_set::{rule, RuleSet, RuleSpec};
use crate::scan::{snap_to_char_boundaries, Hit, ScanText, Severity};

use Severity::{Critical, High, Medium};

/// Categories of dangerous generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeInjectionCategory {
    ShellExecution,
    DynamicEval,
    NetworkDownload,
    Deserialization,
    SqlInjection,
    PipeToShell,
    EncodedPowershell,
    DestructiveCommand,
}

impl CodeInjectionCategory {
    pub const ALL: [CodeInjectionCategory; 8] = [
        CodeInjectionCategory::ShellExecution,
        CodeInjectionCategory::DynamicEval,
        CodeInjectionCategory::NetworkDownload,
        CodeInjectionCategory::Deserialization,
        CodeInjectionCategory::SqlInjection,
        CodeInjectionCategory::PipeToShell,
        CodeInjectionCategory::EncodedPowershell,
        CodeInjectionCategory::DestructiveCommand,
    ];
}

/// `code_injection` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeInjectionParams {
    /// Categories reported; all by default.
    pub categories: Vec<CodeInjectionCategory>,
}

impl Default for CodeInjectionParams {
    fn default() -> Self {
        Self {
            categories: CodeInjectionCategory::ALL.to_vec(),
        }
    }
}

const SHELL: &[RuleSpec] = &[
    rule("os_system", High, &["os."], r"\bos\.(?:system|popen)\s*\("),
    rule(
        "subprocess_shell_true",
        High,
        &["shell"],
        r"\bsubprocess\.\w+\s*\([^)]{0,200}shell\s*=\s*True",
    ),
    rule(
        "runtime_exec",
        High,
        &["getruntime"],
        r"\bRuntime\.getRuntime\(\)\.exec\s*\(",
    ),
    rule(
        "child_process_exec",
        High,
        &["child_process"],
        r"\bchild_process\b[^\n]{0,80}\b(?:exec|execSync|spawn)\b|\brequire\(\s*['\x22]child_process['\x22]\s*\)",
    ),
    rule(
        "php_shell",
        High,
        &["shell_exec", "passthru", "proc_open", "popen", "$_"],
        r"\b(?:shell_exec|passthru|proc_open|popen)\s*\(|\bsystem\s*\(\s*\$_(?:GET|POST|REQUEST|COOKIE)",
    ),
    rule(
        "process_start",
        Medium,
        &["process.start", "command::new"],
        r"\bProcess\.Start\s*\(|\bCommand::new\s*\(\s*\x22(?:sh|bash|cmd|powershell|pwsh)\x22",
    ),
];

const EVAL: &[RuleSpec] = &[
    rule(
        "eval_call",
        High,
        &["eval"],
        r"(?:^|[^.\w])eval\s*\(\s*(?:[a-z_]\w*|request|input|\$_|atob|base64|compile|user)",
    ),
    rule(
        "exec_call",
        High,
        &["exec"],
        r"(?:^|[^.\w])exec\s*\(\s*(?:compile|base64|input|request|user|code|payload|data|open\()",
    ),
    rule(
        "function_constructor",
        High,
        &["new function"],
        r"\bnew\s+Function\s*\(",
    ),
    rule(
        "dynamic_import_os",
        Medium,
        &["__import__"],
        r"\b__import__\s*\(\s*['\x22](?:os|subprocess)['\x22]\s*\)",
    ),
    rule(
        "php_assert_eval",
        High,
        &["assert($_", "assert ($_", "create_function"],
        r"\bassert\s*\(\s*\$_|\bcreate_function\s*\(",
    ),
];

const NETWORK: &[RuleSpec] = &[
    rule(
        "download_and_execute",
        Critical,
        &["chmod"],
        r"\b(?:curl|wget)\b[^\n]{0,200}(?:-o|-O|--output)\b[^\n]{0,200}\n?[^\n]{0,100}\bchmod\s+\+?[0-7]*x",
    ),
    rule(
        "powershell_download",
        High,
        &[
            "invoke-webrequest",
            "downloadstring",
            "downloadfile",
            "start-bitstransfer",
            "certutil",
            "bitsadmin",
        ],
        r"\b(?:Invoke-WebRequest|DownloadString|DownloadFile|Start-BitsTransfer)\b|\bcertutil(?:\.exe)?\s+-urlcache\b|\bbitsadmin\s+/transfer\b",
    ),
    rule(
        "fetch_and_eval",
        Critical,
        &["eval", "exec"],
        r"\b(?:requests\.get|urlopen|fetch)\s*\([^\n]{0,200}\)[^\n]{0,60}\b(?:exec|eval)\b|\b(?:exec|eval)\s*\(\s*(?:requests\.get|urlopen|urllib)",
    ),
];

const DESERIALIZE: &[RuleSpec] = &[
    rule(
        "pickle_load",
        High,
        &["pickle.load", "dill.load", "joblib.load"],
        r"\b(?:c?[Pp]ickle|dill|joblib)\.loads?\s*\(",
    ),
    rule(
        "yaml_unsafe_load",
        High,
        &["yaml."],
        r"\byaml\.(?:load|unsafe_load)\s*\((?:[^)S]|S[^a])*\)",
    ),
    rule(
        "marshal_load",
        High,
        &["marshal."],
        r"\bmarshal\.loads?\s*\(",
    ),
    rule(
        "java_object_stream",
        High,
        &["objectinputstream", "readobject"],
        r"\bObjectInputStream\b[^;]{0,120}|\.readObject\s*\(\s*\)",
    ),
    rule(
        "dotnet_binary_formatter",
        High,
        &["binaryformatter", "netdatacontractserializer"],
        r"\bBinaryFormatter\b|\bNetDataContractSerializer\b",
    ),
    rule(
        "php_unserialize",
        High,
        &["unserialize"],
        r"\bunserialize\s*\(\s*\$_",
    ),
    rule(
        "node_serialize",
        High,
        &["serialize"],
        r"\bnode-serialize\b|\bserialize\.unserialize\s*\(",
    ),
];

const SQL: &[RuleSpec] = &[
    rule(
        "sql_string_format",
        High,
        &["execute", "query", "raw", "exec", "prepare"],
        r#"\b(?:execute|executemany|query|raw|exec|prepare)\s*\(\s*f(?:"(?:select|insert|update|delete|drop)\b[^"\n]*\{|'(?:select|insert|update|delete|drop)\b[^'\n]*\{)"#,
    ),
    rule(
        "sql_concatenation",
        High,
        &["execute", "query", "raw", "exec"],
        r#"\b(?:execute|executemany|query|raw|exec)\s*\(\s*["'](?:select|insert|update|delete)\b[^"'\n]*["']\s*(?:\+|\.\s*\$|\|\|)\s*\w"#,
    ),
    rule(
        "sql_percent_format",
        High,
        &["%s"],
        r#"["'](?:select|insert|update|delete)\b[^"'\n]*%s[^"'\n]*["']\s*%\s*\(?\w"#,
    ),
    rule(
        "sql_tautology_payload",
        High,
        &["--", "#", "/*", "=1", "= 1"],
        r#"['"]\s*(?:or|and)\s+['"]?(\w+)['"]?\s*=\s*['"]?\w+['"]?\s*(?:--|#|/\*)|['"]\s*or\s+1\s*=\s*1"#,
    ),
    rule(
        "sql_stacked_payload",
        High,
        &["';", "' ;"],
        r"'\s*;\s*(?:drop|delete|insert|update|shutdown|exec)\b",
    ),
    rule(
        "sql_union_payload",
        High,
        &["union"],
        r"\bunion\s+(?:all\s+)?select\s+(?:null|@@version|user\(\)|version\(\)|password|load_file)",
    ),
    rule(
        "sql_server_cmdshell",
        Critical,
        &["xp_cmdshell"],
        r"\bxp_cmdshell\b",
    ),
    rule(
        "sql_time_payload",
        High,
        &["waitfor", "sleep"],
        r"\bwaitfor\s+delay\s+'|\bsleep\s*\(\s*\d+\s*\)\s*(?:--|#)",
    ),
];

const PIPE: &[RuleSpec] = &[
    rule(
        "curl_pipe_shell",
        Critical,
        &["curl", "wget", "fetch"],
        r"\b(?:curl|wget|fetch)\b[^\n|]{0,300}\|\s*(?:sudo\s+(?:-\w+\s+)*)?(?:ba|z|da|k|fi)?sh\b",
    ),
    rule(
        "pipe_to_interpreter",
        High,
        &["curl", "wget"],
        r"\b(?:curl|wget)\b[^\n|]{0,300}\|\s*(?:sudo\s+)?(?:python3?|perl|ruby|node)\b",
    ),
    rule(
        "powershell_iex",
        Critical,
        &["iex", "invoke-expression"],
        r"\|\s*(?:iex|Invoke-Expression)\b|\b(?:iex|Invoke-Expression)\s*\(\s*(?:New-Object\s+Net\.WebClient|iwr|Invoke-WebRequest|\(New-Object)",
    ),
];

const POWERSHELL: &[RuleSpec] = &[
    rule(
        "encoded_command",
        Critical,
        &["powershell", "pwsh"],
        r"\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,100}\s-(?:e|en|enc|encodedcommand|ec)\s+[A-Za-z0-9+/=]{20,}",
    ),
    rule(
        "frombase64_execute",
        Critical,
        &["frombase64string"],
        r"FromBase64String\s*\([^\n]{0,200}(?:iex|Invoke-Expression|Invoke-Command)|(?:iex|Invoke-Expression)[^\n]{0,200}FromBase64String",
    ),
];

const DESTRUCTIVE: &[RuleSpec] = &[
    rule(
        "rm_rf_root",
        Critical,
        &["rm -"],
        r"\brm\s+-(?:[a-z]*r[a-z]*f|[a-z]*f[a-z]*r)[a-z]*\s+(?:--no-preserve-root\s+)?(?:/|~|\$HOME|/\*|\*)(?:\s|$|;|&)",
    ),
    rule(
        "disk_wipe",
        Critical,
        &["mkfs", "if=", "format c:", "/dev/sd"],
        r"\bmkfs(?:\.\w+)?\s+/dev/|\bdd\s+if=[^\n]{0,60}of=/dev/(?:sd|nvme|hd|xvd)|\bformat\s+c:|>\s*/dev/sd[a-z]\b",
    ),
    rule(
        "fork_bomb",
        Critical,
        &[":()"],
        r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",
    ),
    rule(
        "chmod_world_root",
        High,
        &["chmod"],
        r"\bchmod\s+-R\s+0?777\s+/(?:\s|$)",
    ),
];

fn specs(category: CodeInjectionCategory) -> &'static [RuleSpec] {
    match category {
        CodeInjectionCategory::ShellExecution => SHELL,
        CodeInjectionCategory::DynamicEval => EVAL,
        CodeInjectionCategory::NetworkDownload => NETWORK,
        CodeInjectionCategory::Deserialization => DESERIALIZE,
        CodeInjectionCategory::SqlInjection => SQL,
        CodeInjectionCategory::PipeToShell => PIPE,
        CodeInjectionCategory::EncodedPowershell => POWERSHELL,
        CodeInjectionCategory::DestructiveCommand => DESTRUCTIVE,
    }
}

fn category_name(c: CodeInjectionCategory) -> &'static str {
    match c {
        CodeInjectionCategory::ShellExecution => "shell_execution",
        CodeInjectionCategory::DynamicEval => "dynamic_eval",
        CodeInjectionCategory::NetworkDownload => "network_download",
        CodeInjectionCategory::Deserialization => "deserialization",
        CodeInjectionCategory::SqlInjection => "sql_injection",
        CodeInjectionCategory::PipeToShell => "pipe_to_shell",
        CodeInjectionCategory::EncodedPowershell => "encoded_powershell",
        CodeInjectionCategory::DestructiveCommand => "destructive_command",
    }
}

/// The compiled policy.
pub(crate) struct CodeInjection {
    rules: RuleSet,
    categories: Vec<&'static str>,
}

impl CodeInjection {
    pub fn compile(params: &CodeInjectionParams) -> Result<CodeInjection, PolicyConfigError> {
        let mut all = Vec::new();
        let mut categories = Vec::new();
        for &c in &params.categories {
            for s in specs(c) {
                all.push(*s);
                categories.push(category_name(c));
            }
        }
        Ok(CodeInjection {
            rules: RuleSet::compile(CodeInjection::ID, &all, &[])?,
            categories,
        })
    }
}

impl Detector for CodeInjection {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        for idx in self.rules.matching_in(text) {
            let rule = self.rules.rule(idx);
            if let Some(m) = rule.regex.find(t.as_bytes()) {
                let span = snap_to_char_boundaries(t, m.range());
                out.push(Hit {
                    rule: format!("{}:{}", self.categories[idx], rule.name),
                    evidence: excerpt(&t[span.clone()]),
                    span,
                    severity: rule.severity,
                });
            }
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.rules.register(literals);
    }
}

impl Policy for CodeInjection {
    const ID: &'static str = "code_injection";
    const NAME: &'static str = "Code Injection and Generation Prevention";
    const TAG: &'static str = "Code Injection";
    const APPLIES_TO: &'static [Role] = &[Role::Assistant];
    const DESCRIPTION: &'static str =
        "Generated code that runs shell, eval, downloads, deserialises, or builds SQL injection.";
    type Params = CodeInjectionParams;

    fn validate(params: &CodeInjectionParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if enabled && params.categories.is_empty() {
            return Err(invalid(
            id,
            "categories",
            "is empty; valid values: shell_execution, dynamic_eval, network_download, deserialization, sql_injection, pipe_to_shell, encoded_powershell, destructive_command",
        ));
        }
        Ok(())
    }

    fn compile(params: &CodeInjectionParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(CodeInjection::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_hit(text: &str) -> Vec<String> {
        let policy = CodeInjection::compile(&CodeInjectionParams::default()).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::Assistant, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn dangerous_generated_code_is_found() {
        assert_eq!(
            rules_hit("curl -fsSL https://get.example.sh | sudo bash"),
            vec!["pipe_to_shell:curl_pipe_shell"]
        );
        assert_eq!(
            rules_hit("data = pickle.loads(request.body)"),
            vec!["deserialization:pickle_load"]
        );
        assert_eq!(
            rules_hit("cur.execute(f\"SELECT * FROM users WHERE name = '{name}'\")"),
            vec!["sql_injection:sql_string_format"]
        );
        assert_eq!(
            rules_hit("powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"),
            vec!["encoded_powershell:encoded_command"]
        );
        assert!(rules_hit("subprocess.run(cmd, shell=True)")
            .contains(&"shell_execution:subprocess_shell_true".to_owned()));
    }

    #[test]
    fn safe_equivalents_are_not_reported() {
        assert!(rules_hit("model.eval()\nsubprocess.run([\"ls\", \"-l\"], check=True)").is_empty());
        assert!(
            rules_hit("cur.execute(\"SELECT * FROM users WHERE name = %s\", (name,))").is_empty()
        );
        assert!(rules_hit("config = yaml.load(f, Loader=yaml.SafeLoader)").is_empty());
        assert!(rules_hit("rm -rf ./build").is_empty());
    }
}
