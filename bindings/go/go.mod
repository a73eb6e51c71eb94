module dremioorch.dev/go/dremioorch

go 1.19
