// Command barelambda is the smallest aws-lambda-go function: the baseline the Lambda start-up
// benchmark (functions.BenchmarkLambdaStart) compares every function's bootstrap with.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() { lambda.Start(func() {}) }
