module valohai-deployments/toolchain/pause

go 1.26.0
