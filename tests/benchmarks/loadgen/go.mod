module eventcart/loadgen

go 1.22
