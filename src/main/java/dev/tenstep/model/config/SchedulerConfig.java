package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code scheduler/scheduler_config.json}. Only the training noise schedule and prediction type
 * matter: {@code _class_name} merely names the scheduler the repo author preferred.
 * Defaults are diffusers' (DDIMScheduler).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record SchedulerConfig(
        String className,
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        double[] trainedBetas,
        String predictionType,
        int stepsOffset,
        boolean setAlphaToOne,
        String timestepSpacing) {

    @JsonCreator
    public static SchedulerConfig of(
            @JsonProperty("_class_name") String className,
            @JsonProperty("num_train_timesteps") Integer numTrainTimesteps,
            @JsonProperty("beta_start") Double betaStart,
            @JsonProperty("beta_end") Double betaEnd,
            @JsonProperty("beta_schedule") String betaSchedule,
            @JsonProperty("trained_betas") double[] trainedBetas,
            @JsonProperty("prediction_type") String predictionType,
            @JsonProperty("steps_offset") Integer stepsOffset,
            @JsonProperty("set_alpha_to_one") Boolean setAlphaToOne,
            @JsonProperty("timestep_spacing") String timestepSpacing) {
        SchedulerConfig c = new SchedulerConfig(className,
                Configs.or(numTrainTimesteps, 1000), Configs.or(betaStart, 0.0001), Configs.or(betaEnd, 0.02),
                Configs.or(betaSchedule, "linear"), trainedBetas, Configs.or(predictionType, "epsilon"),
                Configs.or(stepsOffset, 0), Configs.or(setAlphaToOne, true), Configs.or(timestepSpacing, "leading"));
        c.validate();
        return c;
    }

    void validate() {
        if (!predictionType.equals("epsilon") && !predictionType.equals("v_prediction")) {
            throw new UnsupportedOperationException("prediction_type '" + predictionType
                    + "' is not supported (epsilon or v_prediction)");
        }
        if (trainedBetas == null && !betaSchedule.equals("linear") && !betaSchedule.equals("scaled_linear")
                && !betaSchedule.equals("squaredcos_cap_v2")) {
            throw new UnsupportedOperationException("beta_schedule '" + betaSchedule
                    + "' is not supported (linear, scaled_linear, squaredcos_cap_v2, or trained_betas)");
        }
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 2, got " + numTrainTimesteps);
        }
    }

    public boolean isVPrediction() {
        return predictionType.equals("v_prediction");
    }
}
