module example.invalid/wasibin

go 1.21
