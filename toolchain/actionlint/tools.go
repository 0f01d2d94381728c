//go:build tools

// The linter the test command runs on .github/workflows. This file only pins the command.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
