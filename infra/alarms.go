package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/countdown"
	"wspolicy/internal/metrics"
)

// The countdown actions, the values of the CountdownDrift metric's Action dimension.
const (
	countdownWarn   = countdown.ActionWarn
	countdownExpire = countdown.ActionExpire
)

// metricsNamespace is the CloudWatch namespace the stack's functions send their metrics to (one
// per stack, so that copies in one account stay apart).
func metricsNamespace(stack awscdk.Stack) string {
	return metrics.DefaultNamespace + "/" + *stack.StackName()
}

// customMetric is one of the functions' own metrics (internal/metrics).
func customMetric(stack awscdk.Stack, name string, dims map[string]*string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(metricsNamespace(stack)),
		MetricName:    jsii.String(name),
		DimensionsMap: &dims,
		Period:        opts.Period,
		Statistic:     opts.Statistic,
	})
}

// streamIteratorAgeLimit is how far (ms) the publisher may fall behind the stream before an
// alarm: events reach the provisioning layer late.
const streamIteratorAgeLimit = 5 * 60 * 1000

// Limits of the telemetry alarms.
const (
	// expiryLagLimit (ms): a session whose keepalive expired is ended by the next minutely
	// sweep, so its lag stays under about a minute plus the sweep's run; three minutes means
	// sweeps are failing, cut short or falling behind.
	expiryLagLimit = 3 * 60 * 1000
	// countdownDriftLimit (ms): a countdown acts within seconds of its due time; a minute late
	// means Step Functions or the task function is in trouble (the sweep is the backstop).
	countdownDriftLimit = 60 * 1000
	// apiClientErrorLimit: 4xx answers in five minutes that look like a flood (of failed
	// authentications, mostly) rather than clients' mistakes.
	apiClientErrorLimit = 1000
)

// newAlarms raises CloudWatch alarms, all notifying one SNS topic (subscribe to it to be told):
// every function's errors and throttles, any dead-lettered stream record, a publisher that
// falls behind the stream, any failed or timed-out countdown execution, the expiry lag and the
// countdown drift the functions report, and a flood of 4xx answers from the API.
func newAlarms(stack awscdk.Stack, fns functions, dlq awssqs.Queue, sm awsstepfunctions.StateMachine, api awsapigatewayv2.HttpApi) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("Workspace policy control plane alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, threshold float64, description string) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id+"Alarm"), &awscloudwatch.AlarmProps{
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(description),
		})
		a.AddAlarmAction(action)
	}
	fiveMinSum := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD

	for _, spec := range functionSpecs() {
		fn := fns.all()[spec.name]
		alarm(spec.id+"Errors", fn.MetricErrors(fiveMinSum), atLeast, 1, "The "+spec.name+" function returned errors.")
		alarm(spec.id+"Throttles", fn.MetricThrottles(fiveMinSum), atLeast, 1, "The "+spec.name+" function was throttled.")
	}
	alarm("StreamDeadLetters", dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
	}), above, 0, "Stream records the publisher could not handle are waiting in the dead-letter queue.")
	alarm("PublisherIteratorAge", fns.publisher.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
	}), above, streamIteratorAgeLimit, "The publisher is more than five minutes behind the table stream.")
	alarm("CountdownFailed", sm.MetricFailed(fiveMinSum), atLeast, 1,
		"A time-limit countdown execution failed (the sweep catches the missed expiry).")
	alarm("CountdownTimedOut", sm.MetricTimedOut(fiveMinSum), atLeast, 1,
		"A time-limit countdown execution timed out (Step Functions ends executions after a year; the sweep catches the missed expiry).")
	fiveMinMax := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}
	alarm("ExpiryLag", customMetric(stack, metrics.ExpiryLag, nil, fiveMinMax), above, expiryLagLimit,
		"Sessions whose keepalive expired were ended more than three minutes late: sweeps are failing, cut by their time budget or too slow.")
	for _, action := range []string{countdownWarn, countdownExpire} {
		alarm("CountdownDrift"+strings.ToUpper(action[:1])+action[1:],
			customMetric(stack, metrics.CountdownDrift, map[string]*string{metrics.DimAction: jsii.String(action)}, fiveMinMax),
			above, countdownDriftLimit, "A countdown "+action+" came more than a minute after its due time.")
	}
	alarm("ApiClientErrors", api.MetricClientError(fiveMinSum), atLeast, apiClientErrorLimit,
		"The API answered over 1000 requests with a 4xx in five minutes: a client is failing, or somebody is trying keys.")
	return topic
}
